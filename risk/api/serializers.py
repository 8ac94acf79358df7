from rest_framework import serializers

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


class ConfigUpdateSerializer(serializers.ModelSerializer):
    """Any subset of the editable settings, and the reason for the change (required)."""

    reason = serializers.CharField(
        max_length=100, help_text="Why the configuration changes (kept in the history)."
    )
    expected_version = serializers.IntegerField(
        required=False,
        help_text="The version this change was made against; 409 if another one is in force.",
    )
    symbol_allowlist = serializers.ListField(child=serializers.CharField(), required=False)
    symbol_denylist = serializers.ListField(child=serializers.CharField(), required=False)

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
    reason = serializers.CharField(source="history_change_reason", allow_null=True)
    changes = serializers.SerializerMethodField(help_text="Settings this version changed.")

    class Meta:
        model = TradeConfig.history.model
        fields = ("version", "changed_at", "changed_by", "reason", "changes", *EDITABLE_FIELDS)
        read_only_fields = fields

    def get_changed_by(self, record) -> str:
        return record.history_user.get_username() if record.history_user else ""

    def get_changes(self, record) -> list[str]:
        previous = record.prev_record
        if previous is None:
            return []
        return sorted(c.field for c in record.diff_against(previous).changes)
