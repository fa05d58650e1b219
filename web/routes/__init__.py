"""The HTTP and WebSocket routes, one blueprint per module: they turn requests into actor messages."""
