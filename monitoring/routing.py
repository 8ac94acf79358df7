"""WebSocket URL patterns (the dashboard consumer is added with the operator surfaces)."""

websocket_urlpatterns: list = []
