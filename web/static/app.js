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
  document.addEventListener("click", function (evt) {
    if (!evt.target.closest("#theme-toggle")) return;
    var next = effectiveTheme() === "dark" ? "light" : "dark";
    document.documentElement.dataset.theme = next;
    try { localStorage.setItem(THEME_KEY, next); } catch (e) { /* private mode */ }
  });

  /* ---------------------------------------------------------------- filters: clean URLs */
  document.body.addEventListener("htmx:configRequest", function (evt) {
    if (!evt.detail.elt.closest || !evt.detail.elt.closest("#filters")) return;
    var params = evt.detail.parameters;
    ["agent", "priority", "q"].forEach(function (name) {
      if (params[name] === "" || params[name] === undefined) delete params[name];
    });
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
    if (errors > 6) setConn("disconnected", "Disconnected");
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
    if (lastFocus && document.body.contains(lastFocus)) lastFocus.focus();
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
    var url = link.getAttribute("href");
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
  document.addEventListener("keydown", function (evt) {
    if (evt.key === "Escape" && $("detail") && !$("detail").hidden) { evt.preventDefault(); closeDetail(true); }
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
  setInterval(function () {
    var now = Date.now();
    document.querySelectorAll("time.card-age[datetime]").forEach(function (el) {
      var t = Date.parse(el.getAttribute("datetime"));
      var text = isNaN(t) ? null : age((now - t) / 1000);
      if (text !== null && el.textContent !== text) el.textContent = text;
    });
  }, 1000);  /* the server's patches leave a card alone when only its age text changed */
})();
