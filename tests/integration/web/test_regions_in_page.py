"""The page and the Python side agree on the regions: every region the broadcaster renders has one
element in the page that it swaps, and the page swaps nothing the broadcaster does not send."""

from __future__ import annotations

import re

from agentdeck.web.live.regions import GRAPH_REGIONS, MAIN_REGIONS, PATCHED_REGIONS

OTHER_EVENTS = {"live"}  # running cards' texts (web/live/broadcaster.py), not a region


def swaps(page: str) -> dict[str, list[str]]:
    """element id -> the events it swaps."""
    found = {}
    for tag in re.findall(r"<[a-z]+\s[^>]*sse-swap=[^>]*>", page):
        element_id = re.search(r'\sid="([^"]+)"', tag)
        events = re.search(r'sse-swap="([^"]+)"', tag)
        assert element_id and events, tag
        found[element_id.group(1)] = events.group(1).split(",")
    return found


async def test_every_region_has_its_element_and_nothing_else_is_swapped(running_hub):
    for path, regions in (("/", MAIN_REGIONS), ("/graph", GRAPH_REGIONS)):
        page = (await running_hub.client.get(path)).text
        found = swaps(page)
        for region in regions:
            assert found.get(region) == [region], (path, region)
        events = {event for names in found.values() for event in names}
        patches = {f"patch-{region}" for region in PATCHED_REGIONS} if path == "/" else set()
        assert events == set(regions) | patches | (OTHER_EVENTS if path == "/" else set()), path
