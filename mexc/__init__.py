"""Django-free MEXC Spot V3 adapter: signing, REST and WebSocket clients, and a local simulator."""
