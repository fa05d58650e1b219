"""Search by all words (any order, any case) across title, id, description, tags and agent, with the
matches marked and everything else escaped."""

from __future__ import annotations

from conftest import make_task

from agentdeck.web.live.regions import BoardFilter, highlight


def test_every_word_must_appear_somewhere_in_any_order_and_case():
    task = make_task("t-42", title="Test OAuth callback in the mobile app", description="uses PKCE",
                     tags=["auth", "ios"])
    assigned = make_task("t-43", lane="assigned", title="Other")
    assert BoardFilter(text="oauth mobile").keep(task)
    assert BoardFilter(text="MOBILE  oauth").keep(task)
    assert BoardFilter(text="pkce ios t-42").keep(task)
    assert not BoardFilter(text="oauth android").keep(task)
    assert BoardFilter(text="a1").keep(assigned)  # the agent it is assigned to
    assert BoardFilter(text="").keep(task)


def test_matches_are_marked_and_the_rest_escaped():
    marked = str(highlight("OAuth <b>callback</b> for oauth", "oauth callback"))
    assert marked == ("<mark>OAuth</mark> &lt;b&gt;<mark>callback</mark>&lt;/b&gt; for <mark>oauth</mark>")
    assert str(highlight("a<b", "")) == "a&lt;b"
    assert "<mark>" not in str(highlight("text", "<mark>"))
