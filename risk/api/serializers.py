from django.db import models
from drf_spectacular.extensions import OpenApiSerializerExtension
from rest_framework import serializers

from common.drf import (
    PositiveDecimalField,
    StrictBooleanField,
    StrictCharField,
    TextOnlyMixin,
)
from risk.models import TradeConfig
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
    symbol_allowlist = serializers.ListField(child=SymbolField(), required=False)
    symbol_denylist = serializers.ListField(child=SymbolField(), required=False)

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
