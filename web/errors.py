"""Every error answer is JSON ``{"error": code, "message": text}`` with its HTTP status, except a
page a browser asked for (``Accept: text/html`` first) that does not exist: that gets a small HTML
page with a way back to the board.

One place for them: Quart's own HTTP errors (404, 405, 413...), an actor that does not answer (503)
and an unexpected exception (500, logged with its traceback by Quart before the handler runs).
"""

from __future__ import annotations

import re

from quart import Quart, Response, jsonify, render_template, request
from werkzeug.exceptions import HTTPException, InternalServerError, MethodNotAllowed, NotFound

from agentdeck.actors.mailbox import ActorUnavailable

INTERNAL_MESSAGE = "the server hit an unexpected error; it is in the hub's log"


def error_response(code: str, message: str, status: int) -> tuple[Response, int]:
    return jsonify(error=code, message=message), status


def error_code(error: HTTPException) -> str:
    """``Method Not Allowed`` -> ``method_not_allowed``: a stable, machine-readable name."""
    return re.sub(r"[^a-z0-9]+", "_", (error.name or "error").lower()).strip("_")


def wants_page() -> bool:
    """A browser navigating (HTML preferred over JSON), not a script or a fetch of data."""
    accept = request.accept_mimetypes
    return request.method == "GET" and accept.quality("text/html") > accept.quality("application/json")


def register_error_handlers(app: Quart) -> None:
    @app.errorhandler(HTTPException)
    async def http_error(error: HTTPException) -> HTTPException | tuple[Response | str, int]:
        if error.code is None or error.code < 400:
            return error  # a routing redirect (308) stays a redirect
        if isinstance(error, NotFound) and wants_page():
            return await render_template("not_found.html", path=request.path), 404
        response, status = error_response(error_code(error), str(error.description or error.name), error.code)
        if isinstance(error, MethodNotAllowed) and error.valid_methods:
            response.headers["Allow"] = ", ".join(sorted(error.valid_methods))
        return response, status

    @app.errorhandler(InternalServerError)
    async def internal_error(error: InternalServerError) -> tuple[Response, int]:
        return error_response("internal_error", INTERNAL_MESSAGE, 500)

    @app.errorhandler(ActorUnavailable)
    async def actor_unavailable(error: ActorUnavailable) -> tuple[Response, int]:
        return error_response("unavailable", str(error), 503)
