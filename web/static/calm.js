/* agentdeck: a calm board. When lanes change faster than a person can follow, live changes stop
   moving the cards the person is looking at; a board that changes now and then moves as it changes.

   A list is busy when six or more tasks are running (changes then come every few seconds) or when it
   changed four times in the last 20 s. The server patches lanes item by item (htmx out-of-band
   swaps). Here, after each batch of changes to a busy list and before the browser paints it:
   - a card (or an agent's group) that arrives where the reader can see it, or above that, waits
     hidden behind the lane's "N new" button, unless the lane is scrolled and it arrives above the
     visible part: then it is shown and the scroll position moves with it, so nothing visible moves;
   - a card that leaves keeps its place as a placeholder ("moved to Assigned @agent-3") of the same
     height; an agent's group stays while the agent is between tasks, and takes its place again;
   - anything below the visible part of a lane applies at once (nothing the reader sees moves),
     placeholders that scroll out of sight are dropped, and the button applies the rest on request.
   The activity feed (newest first) is calmed the same way.
   Held cards stay in the page (hidden), so the server's next patches still find every element. The
   marks are attributes htmx leaves alone (it resets an item's class when it redraws the item). */
(function () {
  "use strict";
  if (!window.MutationObserver) return;
  var NAMES = { "lane-inbox": "Inbox", "lane-assigned": "Assigned", "lane-done": "Done", "lane-dead": "Dead letter",
                activity: "Activity" };
  /* calm regions: the four lanes (each its own scroll box) and the activity feed (its list scrolls) */
  var REGIONS = "section.lane, #activity";

  /* the items a region is made of: cards in a list, the groups of the Assigned and Dead lanes, and
     the lines of the activity feed */
  function isItemPlace(parent) {
    return parent.classList && (parent.classList.contains("cards") || parent.classList.contains("groups") ||
      parent.classList.contains("feed"));
  }
  function isItem(node) {
    if (node.nodeType !== 1 || !node.id || node.classList.contains("ghost")) return false;
    var parent = node.parentNode;
    if (!parent || !isItemPlace(parent) || !laneOf(parent)) return false;
    return node.tagName === "LI" || (node.classList.contains("group") && parent.classList.contains("groups"));
  }
  function laneOf(node) { return node.closest && node.closest(REGIONS); }
  function scrollerOf(lane) { return lane.classList.contains("lane") ? lane : lane.querySelector(".feed") || lane; }
  function headOf(lane) { return lane.querySelector(":scope > .lane-head, :scope > h2"); }

  /* what of this lane the reader sees: the part of its scroll box inside the window, under its
     sticky heading; "fixed" when a change inside cannot change the lane's own height on screen */
  function view(lane) {
    var scroller = scrollerOf(lane);
    var box = scroller.getBoundingClientRect();
    var head = headOf(lane);
    var top = box.top + (head && scroller.contains(head) ? head.offsetHeight : 0);
    return {
      top: Math.max(top, 0),
      bottom: Math.min(box.bottom, window.innerHeight),
      away: box.bottom <= 0 || box.top >= window.innerHeight,
      fixed: scroller.scrollHeight > scroller.clientHeight + 1 || box.bottom >= window.innerHeight
    };
  }
  function gapOf(node) {
    var gap = parseFloat(getComputedStyle(node.parentNode).rowGap);
    return isNaN(gap) ? 0 : gap;
  }
  /* where a change at this box lands for the reader: "away" (nobody sees it), "below" the visible
     part, "above" it in a scrolled lane (the scroll position can follow), or "seen" */
  function place(lane, box) {
    var v = view(lane);
    if (v.away) return "away";
    if (box.top >= v.bottom && v.fixed) return "below";
    if (box.bottom <= v.top && scrollerOf(lane).scrollTop > 0) return "above";
    return "seen";
  }

  /* what follows the reader's own click or key (a retry, a cancel) is expected: shown at once */
  var ACTED_MS = 2000;
  var actedAt = -ACTED_MS;
  ["pointerdown", "keydown"].forEach(function (type) {
    document.addEventListener(type, function () { actedAt = performance.now(); }, true);
  });
  function readerActed() { return performance.now() - actedAt < ACTED_MS; }

  var BUSY_RUNNING = 6, BUSY_CHANGES = 4, BUSY_WINDOW_MS = 20000;
  var changedAt = {};  /* list id -> times of its recent arrivals and departures */
  function running() {
    var count = document.querySelector("#lane-assigned .lane-head .count");
    return count ? parseInt(count.getAttribute("data-count") || count.textContent, 10) || 0 : 0;
  }
  /* one more change to this list: does it now change too fast to move under the reader? */
  function busy(lane) {
    var now = performance.now();
    var times = (changedAt[lane.id] || []).filter(function (t) { return now - t < BUSY_WINDOW_MS; });
    times.push(now);
    changedAt[lane.id] = times.slice(-BUSY_CHANGES);  /* the last few are all it needs */
    return running() >= BUSY_RUNNING || times.length >= BUSY_CHANGES;
  }

  function makeGhost(node, lane) {
    var of = node.id;
    node.querySelectorAll("[id]").forEach(function (el) { el.removeAttribute("id"); });
    node.querySelectorAll("[data-live]").forEach(function (el) { el.removeAttribute("data-live"); });
    node.removeAttribute("id");
    node.classList.add("ghost");
    node.removeAttribute("data-held");
    node.dataset.ghostOf = of;
    node.setAttribute("inert", "");
    node.setAttribute("aria-hidden", "true");
    /* an agent's group stays with its name; its card's place says the agent is between tasks */
    var slot = node.classList.contains("group") && lane.id === "lane-assigned" ? node.querySelector(".cards") : node;
    (slot || node).classList.add("ghost-slot");
    (slot || node).dataset.ghostLabel = slot && slot !== node ? "between tasks" : "moved";
  }
  /* a placeholder says where its card went, once the batch that moved it is applied */
  function labelGhosts() {
    document.querySelectorAll(".lane li.ghost[data-ghost-label='moved']").forEach(function (ghost) {
      var card = ghost.querySelector(".card");
      var id = card && card.getAttribute("data-task-id");
      if (!id) return;
      var now = document.querySelector('section.lane li:not(.ghost) .card[data-task-id="' + CSS.escape(id) + '"]');
      var lane = now && laneOf(now);
      var name = lane && NAMES[lane.id];
      var agent = now && now.querySelector(".card-agent");
      if (name) ghost.dataset.ghostLabel = "moved to " + name + (agent ? " " + agent.textContent : "");
      else ghost.dataset.ghostLabel = "moved";
    });
  }

  /* a card that arrived: shown at once where nobody sees a move, else held; a page of cards the
     reader asked for (app.js marks its lane aria-busy meanwhile) is shown as it comes */
  function arrived(node, lane, ghosts) {
    if (lane.getAttribute("aria-busy") === "true") return;
    var ghost = ghosts(lane)[node.id];
    if (ghost) {  /* it comes back where it was (an agent's next task): take the placeholder's place */
      ghost.parentNode.replaceChild(node, ghost);
      return;
    }
    var calm = busy(lane) && !readerActed();
    var where = place(lane, node.getBoundingClientRect());
    if (where === "above") scrollerOf(lane).scrollTop += extent(node);
    else if (where === "seen" && calm) node.setAttribute("data-held", "");
  }
  function extent(node) { return node.getBoundingClientRect().height + gapOf(node); }

  /* a card that left: put back as a placeholder where the reader would see the others move */
  function left(node, record, lane) {
    if (node.hasAttribute("data-held") || !lane.isConnected || !busy(lane) || readerActed()) return;
    var parent = record.target;
    if (!parent.isConnected || laneOf(parent) !== lane) return;
    if (record.nextSibling && record.nextSibling.parentNode === parent) parent.insertBefore(node, record.nextSibling);
    else if (record.previousSibling && record.previousSibling.parentNode === parent) parent.insertBefore(node, record.previousSibling.nextSibling);
    else parent.appendChild(node);
    var where = place(lane, node.getBoundingClientRect());
    if (where === "seen") { makeGhost(node, lane); return; }
    var size = extent(node);
    node.remove();
    if (where === "above") scrollerOf(lane).scrollTop -= size;
  }

  /* placeholders and held cards that no longer need to wait (scrolled out of sight, or below) */
  function settle(lane) {
    lane.querySelectorAll(".ghost").forEach(function (ghost) {
      var where = place(lane, ghost.getBoundingClientRect());
      if (where === "seen") return;
      var size = extent(ghost);
      ghost.remove();
      if (where === "above") scrollerOf(lane).scrollTop -= size;
    });
    lane.querySelectorAll("[data-held]").forEach(function (node) {
      node.removeAttribute("data-held");
      var where = place(lane, node.getBoundingClientRect());
      if (where === "seen") node.setAttribute("data-held", "");
      else if (where === "above") scrollerOf(lane).scrollTop += extent(node);
    });
    showNews(lane);
  }

  /* the lane's button: how many wait, laid over the lane's sticky heading so it moves nothing (the
     server replaces the heading when its count changes: the button moves into the new one) */
  function showNews(lane) {
    var held = lane.querySelectorAll("[data-held]").length;
    var ghosts = lane.querySelectorAll(".ghost").length;
    var head = headOf(lane);
    var button = lane.querySelector(".news-button");
    if (!held && !ghosts) { if (button) button.remove(); return; }
    if (!head) return;
    if (!button) {
      button = document.createElement("button");
      button.type = "button";
      button.className = "btn btn-small news-button";
    }
    if (button.parentNode !== head) head.appendChild(button);
    var parts = [];
    if (held) parts.push(held + " new");
    if (ghosts) parts.push(ghosts + " moved");
    var text = parts.join(", ");
    if (button.textContent !== text) {
      button.textContent = text;
      button.title = "Show the " + (NAMES[lane.id] || "list") + " as it is now: " +
        (held ? held + " new card" + (held > 1 ? "s" : "") + " waiting" : "") + (held && ghosts ? ", " : "") +
        (ghosts ? ghosts + " placeholder" + (ghosts > 1 ? "s" : "") + " of cards that moved" : "");
    }
  }
  function applyAll(lane) {
    var first = null;
    lane.querySelectorAll("[data-held]").forEach(function (node) { node.removeAttribute("data-held"); first = first || node; });
    lane.querySelectorAll(".ghost").forEach(function (ghost) { ghost.remove(); });
    showNews(lane);
    if (first) first.scrollIntoView({ block: "nearest" });
  }
  document.addEventListener("click", function (evt) {
    var button = evt.target.closest && evt.target.closest(".news-button");
    var lane = button && laneOf(button);
    if (lane) applyAll(lane);
  });

  var observer = new MutationObserver(function (records) {
    var added = new Map(), removed = [], lanes = new Set();
    records.forEach(function (record) {
      var lane = laneOf(record.target);
      if (!lane) return;
      lanes.add(lane);
      record.addedNodes.forEach(function (node) { if (node.nodeType === 1 && node.id) added.set(node.id, node); });
      record.removedNodes.forEach(function (node) {
        if (node.nodeType === 1 && node.id && !node.classList.contains("ghost")) removed.push([node, record, lane]);
      });
    });
    var replaced = new Set(), ghostsOf = new Map();
    /* each lane's placeholders by the item they stand for, looked up once per batch */
    function ghosts(lane) {
      if (!ghostsOf.has(lane)) {
        var byId = {};
        lane.querySelectorAll(".ghost[data-ghost-of]").forEach(function (ghost) { byId[ghost.dataset.ghostOf] = ghost; });
        ghostsOf.set(lane, byId);
      }
      return ghostsOf.get(lane);
    }
    removed.forEach(function (entry) {
      var node = entry[0], fresh = added.get(node.id);
      if (fresh && fresh.isConnected) {  /* the same item redrawn: it keeps being held if it was */
        replaced.add(fresh);
        if (node.hasAttribute("data-held")) fresh.setAttribute("data-held", "");
        return;
      }
      var lane = entry[2];
      if (isItemPlace(entry[1].target)) left(node, entry[1], lane);
    });
    added.forEach(function (node) {
      if (replaced.has(node) || !node.isConnected || !isItem(node)) return;
      var group = node.parentNode.closest(".group");
      if (group && added.get(group.id) === group) return;  /* its group arrived with it */
      arrived(node, laneOf(node), ghosts);
    });
    lanes.forEach(function (lane) { if (lane.isConnected) showNews(lane); });
    if (removed.length) labelGhosts();
    observer.takeRecords();  /* our own moves */
  });
  observer.observe(document.body, { childList: true, subtree: true });

  function settleAll() { document.querySelectorAll(REGIONS).forEach(settle); }
  var pending = false;
  function settleSoon() {
    if (pending) return;
    pending = true;
    requestAnimationFrame(function () { pending = false; settleAll(); observer.takeRecords(); });
  }
  document.addEventListener("scroll", settleSoon, { capture: true, passive: true });
  window.addEventListener("resize", settleSoon);
  setInterval(settleSoon, 1000);
})();
