"""agentdeck's edges: HTTP, WebSocket, server-sent events and the command line.

Offers: ``app.create_app`` (the Quart-Trio app for a ``Hub``), ``server.run_hub`` (actors, the
broadcaster and Hypercorn in one nursery), ``cli.main`` (the ``agentdeck`` command). Subpackages:
``routes`` (one blueprint per concern), ``live`` (the SSE broadcaster, regions, patches, element
ids), ``view`` (words, charts, JSON shapes), ``commands`` (sub-commands). Single modules: ``errors``
(JSON error answers), ``guard`` (Host, Origin, token gate), ``origin``, ``asgi_ws`` (a WebSocket
served as plain ASGI), ``compression``, ``ws_inflate``, ``context`` (the hub of the current app).
"""
