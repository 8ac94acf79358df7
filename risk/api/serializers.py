from django.db import models
from drf_spectacular.extensions import OpenApiSerializerExtension
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from common.drf import (
    PositiveDecimalField,
    StrictBooleanField,
    StrictCharField,
    TextOnlyMixin,
)
from risk.models import NOTIFY_EVENT_DEFAULTS, ConfigPreset, TradeConfig, validate_ladder
from risk.selectors import config_current_version
from risk.services import EDITABLE_FIELDS


class ConfigSerializer(serializers.ModelSerializer):
    """The configuration in force and its version: shared by the API and `config.changed`."""

    version = serializers.SerializerMethodField(help_text="History id of this configuration.")

    class Meta:
        model = TradeConfig
        fields = ("version", "updated_at", *EDITABLE_FIELDS)
        read_only_fields = fields

    def get_version(self, config: TradeConfig) -> int | None:
        version = config_current_version(config=config)
        return version.history_id if version else None


@extend_schema_field(
    {
        "type": "object",
        "properties": {name: {"type": "boolean"} for name in NOTIFY_EVENT_DEFAULTS},
        "additionalProperties": False,
    }
)
class NotifyEventsField(serializers.JSONField):
    """Each known event on (true) or off (false): the schema lists them."""


class _Symbol(TextOnlyMixin, serializers.RegexField):
    pass


def SymbolField() -> serializers.RegexField:
    return _Symbol(
        r"^[A-Za-z0-9]{1,32}$",
        max_length=32,
        error_messages={"invalid": "A symbol is letters and digits, e.g. ABCUSDT."},
    )


class ConfigUpdateSerializer(serializers.ModelSerializer):
    """Any subset of the editable settings, and the reason for the change (required)."""

    # Amounts as digit strings and booleans as booleans: exactly what the schema says.
    serializer_field_mapping = {
        **serializers.ModelSerializer.serializer_field_mapping,
        models.DecimalField: PositiveDecimalField,
        models.BooleanField: StrictBooleanField,
        models.CharField: StrictCharField,
    }

    reason = StrictCharField(
        max_length=100, help_text="Why the configuration changes (kept in the history)."
    )
    expected_version = serializers.IntegerField(
        required=False,
        help_text="The version this change was made against; 409 if another one is in force.",
    )
    symbol_allowlist = serializers.ListField(
        child=SymbolField(),
        required=False,
        help_text=TradeConfig._meta.get_field("symbol_allowlist").help_text,
    )
    symbol_denylist = serializers.ListField(
        child=SymbolField(),
        required=False,
        help_text=TradeConfig._meta.get_field("symbol_denylist").help_text,
    )
    notify_events = NotifyEventsField(
        required=False, help_text=TradeConfig._meta.get_field("notify_events").help_text
    )
    take_profit_ladder = serializers.ListField(
        child=serializers.ListField(
            child=serializers.FloatField(min_value=0, max_value=100_000),
            min_length=2,
            max_length=2,
        ),
        max_length=10,
        required=False,
        validators=[validate_ladder],
        help_text=TradeConfig._meta.get_field("take_profit_ladder").help_text,
    )

    class Meta:
        model = TradeConfig
        fields = (*EDITABLE_FIELDS, "reason", "expected_version")

    def validate(self, attrs: dict) -> dict:
        if not (attrs.get("reason") or "").strip():
            raise serializers.ValidationError({"reason": ["Say why the configuration changes."]})
        if not set(attrs) - {"reason", "expected_version"}:
            raise serializers.ValidationError(
                {"non_field_errors": ["Nothing to change: send at least one setting."]}
            )
        return attrs


class ConfigVersionSerializer(serializers.ModelSerializer):
    """One version of the configuration: who changed what, when and why, and all settings."""

    version = serializers.IntegerField(source="history_id")
    changed_at = serializers.DateTimeField(source="history_date")
    changed_by = serializers.SerializerMethodField()
    reason = StrictCharField(source="history_change_reason", allow_null=True)
    changes = serializers.SerializerMethodField(help_text="Settings this version changed.")

    class Meta:
        model = TradeConfig.history.model
        fields = ("version", "changed_at", "changed_by", "reason", "changes", *EDITABLE_FIELDS)
        read_only_fields = fields

    def get_changed_by(self, record) -> str:
        return record.history_user.get_username() if record.history_user else ""

    def get_changes(self, record) -> list[str]:
        known = self.context.get("previous")
        previous = known[record.history_id] if known is not None else record.prev_record
        if previous is None:
            return []
        return sorted(c.field for c in record.diff_against(previous).changes)


class ConfigUpdateSchema(OpenApiSerializerExtension):
    """The schema says what `validate` checks: besides the reason, at least one setting."""

    target_class = ConfigUpdateSerializer

    def map_serializer(self, auto_schema, direction):
        schema = auto_schema._map_serializer(self.target, direction, bypass_extensions=True)
        schema["anyOf"] = [{"required": [name]} for name in EDITABLE_FIELDS]
        return schema


class PresetSerializer(serializers.ModelSerializer):
    """A named set of settings; `settings` in the shape GET /api/config/ shows them."""

    settings = serializers.JSONField(
        source="values", help_text=ConfigPreset._meta.get_field("values").help_text
    )
    created_by = serializers.SerializerMethodField()

    class Meta:
        model = ConfigPreset
        fields = ("name", "description", "settings", "created_by", "updated_at")
        read_only_fields = fields

    def get_created_by(self, preset: ConfigPreset) -> str:
        return preset.created_by.get_username() if preset.created_by else ""


class PresetSettingsSerializer(ConfigUpdateSerializer):
    """Any subset of the editable settings, typed as PUT /api/config/ takes them."""

    reason = None
    expected_version = None

    class Meta(ConfigUpdateSerializer.Meta):
        fields = EDITABLE_FIELDS
        extra_kwargs = {name: {"required": False} for name in EDITABLE_FIELDS}

    def validate(self, attrs: dict) -> dict:
        return attrs


class PresetSaveSerializer(serializers.Serializer):
    """Save a preset: the configuration in force (no `settings`), or the settings given."""

    name = _Symbol(
        r"^[a-z0-9][a-z0-9_-]{0,47}$",
        max_length=48,
        help_text=ConfigPreset._meta.get_field("name").help_text,
        error_messages={"invalid": "A preset name is lower-case letters, digits, - and _."},
    )
    description = StrictCharField(
        max_length=200,
        required=False,
        allow_blank=True,
        default="",
        help_text=ConfigPreset._meta.get_field("description").help_text,
    )
    settings = PresetSettingsSerializer(
        required=False,
        help_text="Settings to save (any subset of the editable ones); omitted: the "
        "configuration in force.",
    )


class PresetApplySerializer(serializers.Serializer):
    expected_version = serializers.IntegerField(
        required=False,
        help_text="The version this was decided against; 409 if another one is in force.",
    )
