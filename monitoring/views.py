from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET


@require_GET
def health(request: HttpRequest) -> JsonResponse:
    """Liveness: the web process answers. Readiness (dependencies) is a separate endpoint."""
    return JsonResponse(
        {"status": "ok", "version": settings.VERSION, "environment": settings.ENVIRONMENT}
    )
