/* agentdeck dashboard: the little that htmx does not do (theme, connection state, the detail panel). */
(function () {
  "use strict";
  var THEME_KEY = "agentdeck-theme";
  var errors = 0;
  var lastFocus = null;

  htmx.config.responseHandling = [
    { code: "204", swap: false },
    { code: "[2345]..", swap: true, error: false },
    { code: "...", swap: false }
  ];

  function $(id) { return document.getElementById(id); }

  /* No eval anywhere (the Content-Security-Policy forbids it): trigger filters are written here. */
  htmx.config.allowEval = false;
  document.body.addEventListener("htmx:confirm", function (evt) {
    var hash = evt.detail.elt.dataset && evt.detail.elt.dataset.taskHash;
    var trigger = evt.detail.triggeringEvent;
    if (!hash || !trigger || trigger.type !== "sse:task-changed") return;
    var changed = " " + ((trigger.detail && trigger.detail.data) || "") + " ";
    if (changed.indexOf(" " + hash + " ") === -1 && changed.indexOf(" * ") === -1) evt.preventDefault();
  });

  /* The detail panel shows task fragments only: one path segment under /tasks/, answered as HTML. */
  var TASK_URL = /^\/tasks\/[^\/?#]+(\?[^#]*)?$/;
  document.body.addEventListener("htmx:beforeSwap", function (evt) {
    if (!evt.detail.target || evt.detail.target.id !== "detail") return;
    var type = evt.detail.xhr && evt.detail.xhr.getResponseHeader("Content-Type") || "";
    if (type.indexOf("text/html") !== 0) { evt.detail.shouldSwap = false; }
  });

  /* ---------------------------------------------------------------- theme */
  function effectiveTheme() {
    var set = document.documentElement.dataset.theme;
    if (set) return set;
    return window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light";
  }
  /* light -> dark -> follow the system -> light ...; no saved choice means "follow the system" */
  var THEME_NAMES = { light: "Light", dark: "Dark", "": "Auto" };
  function showTheme() {
    var button = $("theme-toggle");
    if (!button) return;
    var set = document.documentElement.dataset.theme || "";
    button.querySelector(".theme-name").textContent = THEME_NAMES[set];
    button.setAttribute("aria-label", THEME_NAMES[set] + " theme" +
      (set ? "" : ", following the system (" + effectiveTheme() + ")") + ": change");
  }
  document.addEventListener("click", function (evt) {
    if (!evt.target.closest("#theme-toggle")) return;
    var set = document.documentElement.dataset.theme || "";
    var next = set === "light" ? "dark" : set === "dark" ? "" : "light";
    try {
      if (next) localStorage.setItem(THEME_KEY, next); else localStorage.removeItem(THEME_KEY);
    } catch (e) { /* private mode */ }
    if (next) document.documentElement.dataset.theme = next; else delete document.documentElement.dataset.theme;
    showTheme();
  });
  showTheme();

  /* ---------------------------------------------------------------- bulk actions on a lane's cards */
  function bulkIds(button) {
    var lane = button.getAttribute("data-bulk-lane");
    return Array.prototype.map.call(document.querySelectorAll("#lane-" + lane + " li:not(.ghost) > .card[data-task-id]"),
      function (card) { return card.getAttribute("data-task-id"); });
  }
  document.body.addEventListener("htmx:confirm", function (evt) {
    var button = evt.detail.elt;
    if (!button.hasAttribute || !button.hasAttribute("data-bulk")) return;
    evt.preventDefault();
    var ids = bulkIds(button);
    var verb = button.getAttribute("data-bulk") === "retry" ? "Retry" : "Cancel";
    if (!ids.length) { window.alert("No cards in that lane right now."); return; }
    if (window.confirm(verb + " the " + ids.length + " task" + (ids.length > 1 ? "s" : "") + " shown in that lane?")) {
      evt.detail.issueRequest(true);
    }
  });
  document.body.addEventListener("htmx:configRequest", function (evt) {
    var button = evt.detail.elt;
    if (!button.hasAttribute || !button.hasAttribute("data-bulk")) return;
    var params = evt.detail.parameters;
    ["agent", "priority", "q"].forEach(function (name) { delete params[name]; });
    params.action = button.getAttribute("data-bulk");
    params.ids = bulkIds(button);
  });

  /* ---------------------------------------------------------------- a new task from the page */
  document.body.addEventListener("htmx:afterRequest", function (evt) {
    var form = evt.detail.elt;
    if (!form.classList || !form.classList.contains("new-task-form") || !evt.detail.successful) return;
    form.reset();
    form.closest("details").open = false;
  });

  /* ---------------------------------------------------------------- filters: clean URLs */
  document.body.addEventListener("htmx:configRequest", function (evt) {
    if (!evt.detail.elt.closest || !evt.detail.elt.closest("#filters") || evt.detail.elt.hasAttribute("data-bulk")) return;
    var params = evt.detail.parameters;
    ["agent", "priority", "q"].forEach(function (name) {
      if (params[name] === "" || params[name] === undefined) delete params[name];
    });
  });

  /* ---------------------------------------------------------------- "show more": one lane, in place */
  /* The page's own event stream brings the lane's next cards (a patch of that lane alone), so no
     other lane is drawn again and nothing scrolls; /lanes/<lane> answers with that event's id, and
     when it has been applied focus moves to the first new card and the change is announced. The
     lengths go into the address (reload, share) and into the stream's address (reconnects).
     A big page comes as a few events of at most 100 cards: the first is applied at once (what the
     reader looks at next), the others one per frame after it, so no frame waits for thousands of
     cards; any other event first puts the rest in, so events still apply in the order they were
     sent. While its page is on the way the lane is aria-busy, which also tells calm.js that the
     reader asked for these cards. */
  var asked = {};  /* lane -> {shown: its cards before, started, focused} while its page is on the way */
  var answered = {};  /* event id -> lane, once /lanes/ said which event brings the page */
  var applied = {};  /* event ids applied before their request answered */
  var slices = [];  /* the rest of a page still to apply, in order */
  var slicing = false;
  function streamSource() { return document.querySelector("#live[sse-connect]"); }
  function pageId() {
    var source = streamSource();
    var match = source && /[?&]tab=([0-9a-f]+)/.exec(source.getAttribute("sse-connect"));
    return match ? match[1] : null;
  }
  function withParam(url, name, value) {
    var at = url.indexOf("?"), path = at < 0 ? url : url.slice(0, at);
    var params = new URLSearchParams(at < 0 ? "" : url.slice(at + 1));
    params.set(name, value);
    return path + "?" + params.toString();
  }
  function laneCards(lane) { return document.querySelectorAll("#lane-" + lane + " li:not(.ghost) > .card"); }  /* not placeholders */
  function laneOfEvent(type) {
    var match = /^(patch-)?lane-([a-z]+)$/.exec(type || "");
    return match ? match[2] : null;
  }
  function announce(text) {
    var el = $("lane-status");
    if (el) el.textContent = text;
  }
  function focusFirstNew(lane) {
    var state = asked[lane];
    var first = state && !state.focused && laneCards(lane)[state.shown];
    if (!first) return;
    state.focused = true;
    first.focus({ preventScroll: true });
    first.scrollIntoView({ block: "nearest" });
  }
  function notBusy(lane) {
    var section = $("lane-" + lane);
    if (section && !asked[lane]) section.removeAttribute("aria-busy");
  }
  function pageShown(id) {
    var lane = answered[id];
    delete answered[id];
    focusFirstNew(lane);
    var state = asked[lane] || { shown: 0 };
    delete asked[lane];
    setTimeout(function () { notBusy(lane); }, 0);  /* once calm.js has seen the new cards */
    var cards = laneCards(lane);
    var count = document.querySelector("#head-" + lane + " .count");
    var name = document.querySelector("#head-" + lane + " span");
    announce("Showing " + cards.length + " of " + (count ? count.textContent : cards.length) + " " +
             (name ? name.textContent : lane) + " tasks" + (cards.length > state.shown ? "" : ": no more"));
  }
  document.addEventListener("click", function (evt) {
    var link = evt.target.closest && evt.target.closest("a.show-more[data-lane]");
    if (!link || evt.button !== 0 || evt.metaKey || evt.ctrlKey || evt.shiftKey || evt.altKey) return;
    var lane = link.dataset.lane, show = link.dataset.show, tab = pageId();
    var paged = withParam(window.location.pathname + window.location.search, lane, show);
    evt.preventDefault();
    if (!tab || document.body.dataset.conn !== "connected") { window.location.assign(paged); return; }
    if (asked[lane]) return;  /* one request per lane at a time */
    asked[lane] = { shown: laneCards(lane).length, focused: false };
    $("lane-" + lane).setAttribute("aria-busy", "true");
    /* 409: the hub has no stream for this page yet (the stream opens, or reconnects, a moment
       before the hub counts it): ask again a few times before loading the paged address */
    var ask = function (attempt) {
      return fetch("/lanes/" + lane + "?tab=" + tab + "&show=" + encodeURIComponent(show), { credentials: "same-origin" })
        .then(function (response) {
          if (response.status === 409 && attempt < 5) {
            return new Promise(function (resolve) { setTimeout(resolve, 100 * (attempt + 1)); })
              .then(function () { return ask(attempt + 1); });
          }
          if (!response.ok) throw new Error("lane " + response.status);
          return response.json();
        });
    };
    ask(0)
      .then(function (answer) {
        history.replaceState(history.state, "", paged);
        var source = streamSource();
        if (source) source.setAttribute("sse-connect", withParam(source.getAttribute("sse-connect"), lane, show));
        answered[answer.event] = lane;
        if (applied[answer.event]) { delete applied[answer.event]; pageShown(answer.event); }
      })
      .catch(function () { delete asked[lane]; notBusy(lane); window.location.assign(paged); });
  });
  function drainSlices() { while (slices.length) slices.shift()(); }
  function sliceLater() {
    if (slicing || !slices.length) return;
    slicing = true;
    requestAnimationFrame(function () {  /* after the frame with what is in already */
      setTimeout(function () {
        slicing = false;
        if (slices.length) slices.shift()();
        sliceLater();
      }, 0);
    });
  }
  function sliceOf(target, detail) {
    return function () {
      var how = target.getAttribute("hx-swap") || "innerHTML";  /* as the stream would have swapped it */
      htmx.swap(target, detail.data, { swapStyle: how, swapDelay: 0, settleDelay: 0 });
      htmx.trigger(target, "htmx:sseMessage", detail);
    };
  }
  document.body.addEventListener("htmx:sseBeforeMessage", function (evt) {
    var detail = evt.detail || {};
    var state = asked[laneOfEvent(detail.type)];
    if (state && state.started) {  /* the next slice of the page: in a later frame */
      evt.preventDefault();
      slices.push(sliceOf(evt.target, detail));
      sliceLater();
      return;
    }
    drainSlices();  /* the rest of a page lands before anything sent after it */
    if (state) state.started = true;
  });
  document.body.addEventListener("htmx:sseMessage", function (evt) {
    var id = evt.detail && evt.detail.lastEventId;
    var lane = laneOfEvent(evt.detail && evt.detail.type);
    if (!id || !lane) return;
    focusFirstNew(lane);
    if (answered[id]) pageShown(id);
    else if (asked[lane]) applied[id] = true;
  });

  /* ---------------------------------------------------------------- graph: zoom, fit, drag to pan */
  var graphScale = null;  /* null: fit on first draw */
  function graphSvg() { return document.querySelector("#graph svg.graph"); }
  function applyScale() {
    var svg = graphSvg();
    if (!svg) return;
    var box = svg.viewBox.baseVal, scroller = svg.closest(".graph-scroll");
    if (graphScale === null) {
      graphScale = Math.min(1, (scroller.clientWidth - 4) / box.width, Math.max(0.2, (scroller.clientHeight - 4) / box.height));
    }
    svg.setAttribute("width", Math.round(box.width * graphScale));
    svg.setAttribute("height", Math.round(box.height * graphScale));
  }
  document.addEventListener("click", function (evt) {
    var button = evt.target.closest && evt.target.closest("[data-zoom]");
    if (!button || !graphSvg()) return;
    var how = button.getAttribute("data-zoom");
    if (how === "fit") graphScale = null;
    else if (how === "reset") graphScale = 1;
    else graphScale = Math.max(0.1, Math.min(4, (graphScale || 1) * (how === "in" ? 1.25 : 0.8)));
    applyScale();
  });
  document.body.addEventListener("htmx:afterSwap", function (evt) {
    if (evt.detail.target && evt.detail.target.id === "graph") applyScale();
  });
  document.addEventListener("DOMContentLoaded", applyScale);
  var drag = null;
  document.addEventListener("pointerdown", function (evt) {
    var scroller = evt.target.closest && evt.target.closest(".graph-scroll");
    if (!scroller || evt.button !== 0 || evt.target.closest("a")) return;
    drag = { el: scroller, x: evt.clientX, y: evt.clientY, left: scroller.scrollLeft, top: scroller.scrollTop };
    scroller.classList.add("dragging");
  });
  document.addEventListener("pointermove", function (evt) {
    if (!drag) return;
    drag.el.scrollLeft = drag.left - (evt.clientX - drag.x);
    drag.el.scrollTop = drag.top - (evt.clientY - drag.y);
  });
  document.addEventListener("pointerup", function () {
    if (drag) drag.el.classList.remove("dragging");
    drag = null;
  });

  /* ---------------------------------------------------------------- connection */
  function setConn(state, text) {
    var el = $("conn");
    if (!el) return;
    el.className = "conn conn-" + state;
    el.textContent = text;
    document.body.dataset.conn = state;
    var refresh = $("refresh");
    if (refresh) refresh.hidden = state !== "disconnected";
  }
  document.body.addEventListener("htmx:sseOpen", function () {
    var reconnected = errors > 0;
    errors = 0;
    setConn("connected", "Connected");
    /* output streamed while the connection was down is not replayed: open panels fetch it again */
    if (reconnected) htmx.trigger(document.body, "agentdeck:resync");
  });
  document.body.addEventListener("htmx:sseError", function () {
    errors += 1;
    if (errors > 6) setConn("disconnected", "Offline, still retrying (" + errors + ")");
    else setConn("reconnecting", "Reconnecting… (" + errors + ")");
  });
  document.addEventListener("click", function (evt) {
    if (evt.target.closest("#refresh")) window.location.reload();
  });

  /* If the SSE extension has to rebuild the connection, it resumes after the last event applied
     (patches only apply to the page state they were made for), not from the page's first id. */
  document.body.addEventListener("htmx:sseMessage", function (evt) {
    var id = evt.detail && evt.detail.lastEventId;
    var source = evt.target.closest && evt.target.closest("[sse-connect]");
    if (!id || !source) return;
    var url = source.getAttribute("sse-connect").replace(/([?&])since=[^&]*/, "$1since=" + encodeURIComponent(id));
    source.setAttribute("sse-connect", url);
  });

  /* ---------------------------------------------------------------- live texts of running tasks */
  /* The "live" event carries {taskHash: {line, tokens, spend}}; the server leaves these spans out of
     its card patches, so a running card is never replaced (nor loses focus) just because it printed. */
  document.body.addEventListener("htmx:sseBeforeMessage", function (evt) {
    if (!evt.target || evt.target.id !== "live-texts") return;
    var data;
    try { data = JSON.parse(evt.detail.data); } catch (e) { return; }
    Object.keys(data).forEach(function (hash) {
      ["line", "tokens", "spend"].forEach(function (field) {
        var text = data[hash][field] || "";
        document.querySelectorAll('[data-live="' + field + "-" + hash + '"]').forEach(function (el) {
          if (el.textContent !== text) el.textContent = text;
        });
      });
    });
  });

  /* ---------------------------------------------------------------- execution output */
  function atBottom(el) { return el.scrollHeight - el.scrollTop - el.clientHeight < 24; }
  document.body.addEventListener("htmx:sseBeforeMessage", function (evt) {
    var el = evt.target;
    if (el.classList && el.classList.contains("output")) el.dataset.follow = atBottom(el) ? "1" : "0";
  });
  document.body.addEventListener("htmx:sseMessage", function (evt) {
    var el = evt.target;
    if (!el.classList || !el.classList.contains("output")) return;
    if (el.dataset.follow !== "0") el.scrollTop = el.scrollHeight;
    var empty = el.parentNode.querySelector(".output-empty");
    if (empty && el.textContent) empty.textContent = "";
  });

  document.addEventListener("click", function (evt) {
    var button = evt.target.closest && evt.target.closest(".copy-output");
    if (!button) return;
    var pre = $(button.dataset.copy);
    if (!pre) return;
    var done = function (ok) {
      button.textContent = ok ? "Copied" : "Select and copy";
      setTimeout(function () { button.textContent = "Copy"; }, 2000);
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(pre.textContent).then(function () { done(true); }, function () { done(false); });
    } else {
      var range = document.createRange();
      range.selectNodeContents(pre);
      var sel = window.getSelection();
      sel.removeAllRanges();
      sel.addRange(range);
      var ok = false;
      try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
      done(ok);
    }
  });

  /* ---------------------------------------------------------------- task detail panel */
  function boardUrl() { return "/" + window.location.search; }  /* filters ride along in the query */
  function openDetail() {
    var panel = $("detail");
    if (!panel) return;
    if (panel.hidden) lastFocus = document.activeElement;
    panel.hidden = false;
    $("detail-backdrop").hidden = false;
    document.body.classList.add("detail-open");
    var out = panel.querySelector(".output");
    if (out) out.scrollTop = out.scrollHeight;
    panel.focus();
  }
  function closeDetail(push) {
    var panel = $("detail");
    if (!panel || panel.hidden) return;
    panel.hidden = true;
    $("detail-backdrop").hidden = true;
    document.body.classList.remove("detail-open");
    panel.replaceChildren();
    if (push) history.pushState({}, "", boardUrl());
    returnFocus();
  }
  /* Focus goes back to the card that opened the panel; if that card was redrawn or moved lane,
     to the task's card wherever it is now; else to the board. */
  function returnFocus() {
    if (lastFocus && document.body.contains(lastFocus)) { lastFocus.focus(); return; }
    var id = lastFocus && lastFocus.getAttribute && lastFocus.getAttribute("data-task-id");
    var card = id && document.querySelector('.card[data-task-id="' + CSS.escape(id) + '"]');
    var target = card || $("main");
    if (target) target.focus();
  }
  document.body.addEventListener("htmx:afterSwap", function (evt) {
    if (evt.detail.target && evt.detail.target.id === "detail") openDetail();
  });
  function taskLink(evt) {
    if (evt.defaultPrevented || evt.button !== 0 || evt.metaKey || evt.ctrlKey || evt.shiftKey || evt.altKey) return null;
    var link = evt.target.closest && evt.target.closest("a[href^='/tasks/']");
    if (link && !TASK_URL.test(link.getAttribute("href"))) return null;
    return link && $("detail") && !link.closest(".close-detail") ? link : null;
  }
  document.addEventListener("click", function (evt) {
    var link = taskLink(evt);
    if (!link) return;
    evt.preventDefault();
    var url = link.getAttribute("href").split("?")[0] + window.location.search;  /* filters and lane lengths */
    htmx.ajax("GET", url.split("?")[0], { target: "#detail", swap: "innerHTML" }).then(function () {
      if (window.location.pathname + window.location.search !== url) history.pushState({}, "", url);
    });
  });
  document.addEventListener("click", function (evt) {
    if (evt.target.closest(".close-detail") || evt.target.id === "detail-backdrop") {
      evt.preventDefault();
      closeDetail(true);
    }
  });
  function typing(el) {
    return el && (el.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(el.tagName));
  }
  function moveCard(step) {
    var cards = Array.prototype.slice.call(document.querySelectorAll("#main li:not([data-held]):not(.ghost) > .card"));
    if (!cards.length) return;
    var at = cards.indexOf(document.activeElement);
    var next = cards[Math.max(0, Math.min(cards.length - 1, at === -1 ? 0 : at + step))];
    next.focus();
    next.scrollIntoView({ block: "nearest" });
  }
  document.addEventListener("keydown", function (evt) {
    var open = $("detail") && !$("detail").hidden;
    if (!open && !evt.ctrlKey && !evt.metaKey && !evt.altKey && !typing(evt.target)) {
      if (evt.key === "/" && $("f-text")) { evt.preventDefault(); $("f-text").focus(); $("f-text").select(); return; }
      if (evt.key === "j") { evt.preventDefault(); moveCard(1); return; }
      if (evt.key === "k") { evt.preventDefault(); moveCard(-1); return; }
      if (evt.key === "?" && $("shortcuts")) { $("shortcuts").open = !$("shortcuts").open; return; }
    }
    if (evt.key === "Escape" && typing(evt.target) && evt.target.id === "f-text") { evt.target.blur(); return; }
    if (evt.key === "Escape" && open) { evt.preventDefault(); closeDetail(true); }
    if (evt.key === "Tab" && $("detail") && !$("detail").hidden) trapFocus(evt);
  });
  function trapFocus(evt) {
    var items = $("detail").querySelectorAll("a[href], button, [tabindex='0'], summary");
    if (!items.length) return;
    var first = items[0], last = items[items.length - 1];
    if (evt.shiftKey && (document.activeElement === first || document.activeElement === $("detail"))) {
      evt.preventDefault(); last.focus();
    } else if (!evt.shiftKey && document.activeElement === last) {
      evt.preventDefault(); first.focus();
    }
  }
  window.addEventListener("popstate", function () {
    if (TASK_URL.test(window.location.pathname)) {
      htmx.ajax("GET", window.location.pathname, { target: "#detail", swap: "innerHTML" });
    } else {
      closeDetail(false);
    }
  });
  document.addEventListener("DOMContentLoaded", function () {
    if ($("detail") && !$("detail").hidden) openDetail();
  });

  /* ---------------------------------------------------------------- toasts and ages */
  document.body.addEventListener("htmx:afterSwap", function (evt) {
    if (!evt.detail.target || evt.detail.target.id !== "toasts") return;
    var toast = evt.detail.target.firstElementChild;
    if (toast) setTimeout(function () { toast.remove(); }, 8000);
  });
  function age(seconds) {
    seconds = Math.max(0, Math.floor(seconds));
    if (seconds < 60) return seconds + "s";
    if (seconds < 3600) return Math.floor(seconds / 60) + "m";
    if (seconds < 86400) return Math.floor(seconds / 3600) + "h";
    return Math.floor(seconds / 86400) + "d";
  }
  /* times: the viewer's own zone on screen, UTC on hover */
  function pad(n) { return (n < 10 ? "0" : "") + n; }
  function localTimes() {
    document.querySelectorAll("time.local-time[datetime]:not([data-local])").forEach(function (el) {
      var t = new Date(el.getAttribute("datetime"));
      if (isNaN(t.getTime())) return;
      var seconds = el.textContent.split(":").length > 2;
      el.title = el.getAttribute("datetime").replace("T", " ").replace(/\+00:00$|Z$/, "") + " UTC";
      el.textContent = pad(t.getHours()) + ":" + pad(t.getMinutes()) + (seconds ? ":" + pad(t.getSeconds()) : "");
      el.dataset.local = "1";
    });
  }
  /* the tab's title and the numbers a person glances at from another tab */
  var baseTitle = document.title;
  function count(lane) {
    var el = document.querySelector("#head-" + lane + " .count");
    return el ? parseInt(el.getAttribute("data-count") || el.textContent, 10) || 0 : 0;
  }
  function titleCounts() {
    if (!$("lane-assigned")) return;
    var running = count("assigned"), dead = count("dead");
    var parts = [];
    if (running) parts.push(running + " running");
    if (dead) parts.push(dead + " failed");
    var title = (parts.length ? "(" + parts.join(", ") + ") " : "") + baseTitle;
    if (document.title !== title) document.title = title;
    faviconCounts(running, dead);
  }
  /* the same two numbers on the tab's icon: running (green, top) and failed (red, bottom), drawn
     over the plain icon */
  var icon = new Image();
  icon.src = "/static/favicon.svg";
  icon.onload = function () { shownIcon = null; titleCounts(); };
  var shownIcon = null;
  function iconBadge(g, n, y, fill) {
    if (!n) return;
    var text = n > 99 ? "99+" : String(n);
    g.font = "bold 26px Arial, sans-serif";
    var width = Math.max(30, g.measureText(text).width + 14);
    g.fillStyle = fill;
    g.strokeStyle = "#fff";
    g.lineWidth = 3;
    g.beginPath();
    g.roundRect(64 - width, y, width, 30, 15);
    g.fill();
    g.stroke();
    g.fillStyle = "#fff";
    g.textAlign = "center";
    g.textBaseline = "middle";
    g.fillText(text, 64 - width / 2, y + 16);
  }
  function faviconCounts(running, failed) {
    var key = running + "/" + failed;
    var link = document.querySelector("link[rel='icon']");
    if (!link || key === shownIcon || !icon.complete || !icon.naturalWidth) return;
    shownIcon = key;
    link.setAttribute("data-counts", key);  /* what the icon says, for tests and tools */
    if (!running && !failed) { link.type = "image/svg+xml"; link.href = "/static/favicon.svg"; return; }
    var canvas = document.createElement("canvas");
    canvas.width = canvas.height = 64;
    var g = canvas.getContext("2d");
    g.drawImage(icon, 0, 0, 64, 64);
    iconBadge(g, running, 1, "#156b39");
    iconBadge(g, failed, 33, "#b02222");
    link.type = "image/png";
    link.href = canvas.toDataURL("image/png");
  }
  /* optional desktop notifications: a task dies, an agent drops, a budget passes 80 % */
  var NOTIFY_KEY = "agentdeck-notify";
  var notifying = false;
  try { notifying = localStorage.getItem(NOTIFY_KEY) === "1" && window.Notification && Notification.permission === "granted"; } catch (e) { notifying = false; }
  function showNotify() {
    var button = $("notify-toggle");
    if (!button) return;
    if (!window.Notification) { button.hidden = true; return; }
    button.setAttribute("aria-pressed", notifying ? "true" : "false");
    button.textContent = notifying ? "Notifying" : "Notify";
  }
  document.addEventListener("click", function (evt) {
    if (!evt.target.closest("#notify-toggle")) return;
    if (notifying) {
      notifying = false;
      try { localStorage.removeItem(NOTIFY_KEY); } catch (e) { /* private mode */ }
      showNotify();
      return;
    }
    Notification.requestPermission().then(function (permission) {
      notifying = permission === "granted";
      try { if (notifying) localStorage.setItem(NOTIFY_KEY, "1"); } catch (e) { /* private mode */ }
      showNotify();
    });
  });
  showNotify();
  var NOTIFY_KINDS = { "task.dead_letter": 1, "agent.left": 1, "budget.threshold": 1 };
  document.body.addEventListener("htmx:sseBeforeMessage", function (evt) {
    if (!notifying || !document.hidden || !evt.detail || typeof evt.detail.data !== "string") return;
    if (evt.detail.type !== "patch-activity" && evt.detail.type !== "activity") return;
    var box = document.createElement("template");
    box.innerHTML = evt.detail.data;
    box.content.querySelectorAll("li[id^='li-activity-']").forEach(function (item) {
      var kind = item.querySelector(".kind");
      if (!kind || !NOTIFY_KINDS[kind.textContent.trim()] || document.getElementById(item.id)) return;
      try { new Notification("agentdeck: " + kind.textContent.trim(), { body: item.textContent.trim().slice(0, 180), tag: item.id }); }
      catch (e) { /* not allowed here */ }
    });
  });

  localTimes();
  titleCounts();
  /* background tabs run timers about once a minute: the counts also follow each live update */
  document.body.addEventListener("htmx:sseMessage", titleCounts);
  setInterval(function () {
    localTimes();
    titleCounts();
    var now = Date.now();
    document.querySelectorAll("time.card-age[datetime]").forEach(function (el) {
      var t = Date.parse(el.getAttribute("datetime"));
      var text = isNaN(t) ? null : age((now - t) / 1000);
      if (text !== null && el.textContent !== text) el.textContent = text;
    });
  }, 1000);  /* the server's patches leave a card alone when only its age text changed */
})();
