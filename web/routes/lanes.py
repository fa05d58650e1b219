"""``GET /lanes/<lane>?tab=<page id>&show=<cards>``: "show more" in one lane of one open page.

The page's own event stream brings the cards it did not have yet, as a patch of that lane alone
(``Broadcaster.show_lane``), so the other lanes are not drawn again, nothing scrolls, and the new
cards land in order with every live change; this answers with the id of that event so the page
knows when they are on screen. A page whose stream is not connected gets 409 and loads the
paged URL instead. A GET changes only what one stream shows: the page id is a random secret of
that page, so no CSRF token is needed.
"""

from __future__ import annotations

from quart import Blueprint, jsonify, request

from agentdeck.actors.messages import LANES
from agentdeck.web.errors import error_response
from agentdeck.web.live.regions import LANE_PAGE, MAX_LANE_LIMIT
from agentdeck.web.routes.events import TAB_ID, current_broadcaster

lanes = Blueprint("lanes", __name__)


@lanes.get("/lanes/<lane>")
async def show_lane(lane: str):
    if lane not in LANES:
        return error_response("not_found", f"no lane {lane[:40]!r}; lanes are {', '.join(LANES)}", 404)
    tab = request.args.get("tab", "")
    if not TAB_ID.fullmatch(tab):
        return error_response("bad_request", "tab must be the page's id (16-64 lowercase hex digits)", 400)
    raw = request.args.get("show", "")
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 6) or not LANE_PAGE <= int(raw) <= MAX_LANE_LIMIT:
        return error_response("bad_request", f"show must be a number of cards from {LANE_PAGE} to "
                                             f"{MAX_LANE_LIMIT}", 400)
    event = await current_broadcaster().show_lane(tab, lane, int(raw))
    if event is None:
        return error_response("no_stream", "this page's live stream is not connected; load the page", 409)
    response = jsonify(event=event, lane=lane, show=int(raw))
    response.headers["Cache-Control"] = "no-store"
    return response
