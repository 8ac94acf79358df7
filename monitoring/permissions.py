"""API roles: group `viewer` reads, group `operator` also writes (superusers do both)."""

from rest_framework.permissions import SAFE_METHODS, BasePermission

VIEWER_GROUP = "viewer"
OPERATOR_GROUP = "operator"


def is_operator(user) -> bool:
    return bool(
        user
        and user.is_authenticated
        and (user.is_superuser or user.groups.filter(name=OPERATOR_GROUP).exists())
    )


def is_viewer(user) -> bool:
    return bool(
        user
        and user.is_authenticated
        and (
            user.is_superuser
            or user.groups.filter(name__in=(VIEWER_GROUP, OPERATOR_GROUP)).exists()
        )
    )


class ViewerReadsOperatorWrites(BasePermission):
    message = "Reading needs the 'viewer' or 'operator' group; changing needs 'operator'."

    def has_permission(self, request, view) -> bool:
        if request.method in SAFE_METHODS:
            return is_viewer(request.user)
        return is_operator(request.user)
