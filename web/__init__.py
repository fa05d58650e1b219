"""agentdeck's edges: HTTP, WebSocket, server-sent events and the command line."""
