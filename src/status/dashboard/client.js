// buildcast dashboard: swaps table rows as the live feed (Server-Sent Events) sends them, and
// filters them by state and by repository or branch name (kept in the URL, so a view can be shared).
// Plain browser JavaScript, no build step; served as /dashboard.js so a strict CSP needs no 'unsafe-inline'.
(function () {
  "use strict";
  var body = document.body;
  var rows = document.getElementById("rows");
  var live = document.getElementById("live");
  var counts = document.getElementById("counts");
  var empty = document.getElementById("empty");
  var nomatch = document.getElementById("nomatch");
  var filterBox = document.getElementById("filter");
  var announcer = document.getElementById("announce");
  var lastId = body.getAttribute("data-revision") || "0";
  var title = "buildcast \u00b7 build status";

  function pad(n) {
    return (n < 10 ? "0" : "") + n;
  }

  // the same rules as the server's formatAgo, but a date is the reader's own day: a build at
  // 20:00 in San Francisco is on that day there, not on the next (the server's, UTC)
  function ago(iso) {
    var then = Date.parse(iso);
    if (!iso || isNaN(then) || then <= 0) return "\u2013";
    var s = Math.max(0, Math.round((Date.now() - then) / 1000));
    if (s < 45) return "just now";
    if (s < 3600) return Math.max(1, Math.round(s / 60)) + " min ago";
    if (s < 86400) return Math.round(s / 3600) + " h ago";
    if (s < 7 * 86400) return Math.round(s / 86400) + " d ago";
    var day = new Date(then);
    return day.getFullYear() + "-" + pad(day.getMonth() + 1) + "-" + pad(day.getDate());
  }

  // one formatter for every row: toLocaleString with options builds a new one per call, and
  // 2,000 rows took 0.8 s, a freeze every 30 s
  var exactFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "long" });

  /** The exact time on hover, in the reader's time zone and words, with the zone named. */
  function exactTime(iso) {
    var then = Date.parse(iso);
    if (!iso || isNaN(then) || then <= 0) return iso || "";
    return exactFormat.format(new Date(then));
  }

  // only what changed is written: rewriting every row's time, the same words, made the
  // browser lay out every row again
  function refreshTimes(within) {
    var times = (within || document).querySelectorAll("time[datetime]");
    for (var i = 0; i < times.length; i++) {
      var iso = times[i].getAttribute("datetime");
      var text = ago(iso);
      if (times[i].textContent !== text) times[i].textContent = text;
      var exact = exactTime(iso);
      if (times[i].title !== exact) times[i].title = exact;
    }
  }

  // --- filters: one state (a click on its count) and a text, both in the URL -------------------
  var params = new URLSearchParams(location.search);
  var states = ["failing", "running", "canceled", "unknown", "passing"];
  var filter = {
    state: states.indexOf(params.get("state")) >= 0 ? params.get("state") : null,
    text: (params.get("q") || "").trim().toLowerCase(),
  };
  filterBox.value = (params.get("q") || "").trim();

  function hiddenByFilter(tr) {
    if (filter.state && tr.getAttribute("data-state") !== filter.state) return true;
    return filter.text !== "" && (tr.getAttribute("data-text") || "").indexOf(filter.text) < 0;
  }

  function applyFilter() {
    var visible = 0;
    for (var i = 0; i < rows.children.length; i++) {
      var tr = rows.children[i];
      tr.hidden = hiddenByFilter(tr);
      if (!tr.hidden) visible++;
    }
    var buttons = counts.querySelectorAll("button[data-state]");
    for (var j = 0; j < buttons.length; j++) {
      buttons[j].setAttribute("aria-pressed", String(buttons[j].getAttribute("data-state") === filter.state));
    }
    empty.hidden = rows.children.length > 0;
    nomatch.hidden = rows.children.length === 0 || visible > 0;
    return visible;
  }

  // a reader who filters, and cannot see the rows go, is told what is left; once typing pauses,
  // not at every key
  var shownTimer = null;
  function filtered() {
    var visible = applyFilter();
    saveFilter();
    var total = rows.children.length;
    clearTimeout(shownTimer);
    shownTimer = setTimeout(function () {
      if (total === 0) return;
      say(
        visible === total
          ? "all " + total + " branches shown"
          : visible === 0
            ? "no branch matches the filter"
            : visible + " of " + total + " branches shown",
      );
    }, 500);
  }

  function clearFilter() {
    filter.state = null;
    filter.text = "";
    filterBox.value = "";
    filtered();
  }

  function saveFilter() {
    var next = new URLSearchParams(location.search);
    if (filter.state) next.set("state", filter.state);
    else next.delete("state");
    var text = filterBox.value.trim();
    if (text) next.set("q", text);
    else next.delete("q");
    var query = next.toString();
    history.replaceState(null, "", location.pathname + (query ? "?" + query : "") + location.hash);
  }

  counts.addEventListener("click", function (event) {
    var button = event.target.closest("button[data-state]");
    if (!button) return;
    var state = button.getAttribute("data-state");
    filter.state = filter.state === state ? null : state;
    filtered();
  });
  filterBox.addEventListener("input", function () {
    filter.text = filterBox.value.trim().toLowerCase();
    filtered();
  });
  filterBox.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && filterBox.value) {
      filterBox.value = "";
      filter.text = "";
      filtered();
    }
  });
  // the state whose button is pressed may have no rows left (its last branch got fixed), and
  // then no button to release: the "no match" line offers the way back
  nomatch.addEventListener("click", function (event) {
    if (event.target.closest("button")) clearFilter();
  });
  // "/" jumps to the filter box, as on GitHub
  document.addEventListener("keydown", function (event) {
    var typing = /^(INPUT|TEXTAREA|SELECT)$/.test(document.activeElement.tagName);
    if (event.key === "/" && !typing && !event.ctrlKey && !event.metaKey && !event.altKey) {
      event.preventDefault();
      filterBox.focus();
    }
  });

  // --- rows from the live feed ----------------------------------------------------------------
  // the rows are kept in order of their keys: find the place by halving, not row by row
  function insertSorted(tr) {
    var key = tr.getAttribute("data-sort");
    var children = rows.children;
    var low = 0;
    var high = children.length;
    while (low < high) {
      var middle = (low + high) >> 1;
      if (children[middle].getAttribute("data-sort") > key) high = middle;
      else low = middle + 1;
    }
    rows.insertBefore(tr, children[low] || null);
  }

  /** Where focus sits inside a row, so it can go back to the same link once the row is redrawn. */
  function focusIndex(tr) {
    if (!tr.contains(document.activeElement)) return -1;
    return Array.prototype.indexOf.call(tr.querySelectorAll("a,button"), document.activeElement);
  }

  /**
   * Where focus goes when the row holding it is hidden (the filter no longer matches its new
   * state) or removed: the next row one can see, else the one before, else the filter box, so a
   * keyboard user stays in the list instead of being sent back to the top of the page.
   */
  function focusNear(tr, index) {
    var near = tr.nextElementSibling;
    while (near && near.hidden) near = near.nextElementSibling;
    if (!near) {
      near = tr.previousElementSibling;
      while (near && near.hidden) near = near.previousElementSibling;
    }
    var targets = near ? near.querySelectorAll("a,button") : [];
    var target = targets[Math.min(index, targets.length - 1)] || filterBox;
    target.focus();
  }

  function updateTitle() {
    var failing = rows.querySelectorAll('tr.row[data-state="failing"]').length;
    document.title = failing > 0 ? "(" + failing + " failing) " + title : title;
  }

  // A catch-up (a laptop waking up, a CI outage failing every branch) sends hundreds of rows in
  // one burst: each row is swapped on its own, but what looks at every row (the filter, the
  // title, the counts) runs once after the burst, not once per row, which froze the page for a
  // minute at 1,500 rows.
  var settling = false;
  var nextCounts = null;
  // what a screen reader is told after a burst: branches that started or stopped failing. A run
  // starting or a running row redrawn is not news, or the page would never stop talking.
  var news = [];
  var newsTimer = null;

  function rowName(tr) {
    var repo = tr.querySelector("td.repo > a, td.repo > span");
    var branch = tr.querySelector("td.branch code");
    return (repo ? repo.textContent : "") + " " + (branch ? branch.textContent : "");
  }

  // each row's last state that was not running: a failing branch whose next run starts is not
  // fixed yet, and is fixed, news, when that run passes
  var settled = {};

  function noteNews(before, tr) {
    var after = tr.getAttribute("data-state");
    if (after === "running") return;
    var id = tr.id;
    var was = id in settled ? settled[id] : before === "running" ? null : before;
    settled[id] = after;
    if ((was === "failing") === (after === "failing")) return;
    // a branch the text filter hides is one the reader chose not to follow
    if (filter.text !== "" && (tr.getAttribute("data-text") || "").indexOf(filter.text) < 0) return;
    news.push({ name: rowName(tr), failing: after === "failing", state: after });
  }

  function announce() {
    newsTimer = null;
    if (news.length === 0) return;
    var text;
    if (news.length <= 3) {
      text = news
        .map(function (item) {
          return item.failing
            ? item.name + " is failing"
            : item.name + " is no longer failing: " + item.state;
        })
        .join(". ");
    } else {
      var started = news.filter(function (item) {
        return item.failing;
      }).length;
      var stopped = news.length - started;
      text = [
        started ? started + " branches started failing" : "",
        stopped ? stopped + " stopped failing" : "",
      ]
        .filter(Boolean)
        .join(", ");
    }
    news = [];
    say(text);
  }

  function say(text) {
    // the same words again are news again: a region whose text did not change says nothing
    announcer.textContent = announcer.textContent === text ? text + "\u00a0" : text;
  }

  function settle() {
    settling = false;
    if (nextCounts !== null && nextCounts !== counts.innerHTML) {
      // the buttons are redrawn: a keyboard user on one stays on the same state's
      var focusedState = counts.contains(document.activeElement)
        ? document.activeElement.getAttribute("data-state")
        : null;
      counts.innerHTML = nextCounts;
      var again = focusedState ? counts.querySelector('button[data-state="' + focusedState + '"]') : null;
      if (again) again.focus();
    }
    nextCounts = null;
    applyFilter();
    updateTitle();
    // a burst may arrive over several reads of the stream: what comes within a second is said
    // together
    if (news.length > 0 && newsTimer === null) newsTimer = setTimeout(announce, 1000);
  }

  function applyRow(message) {
    var existing = document.getElementById(message.id);
    if (message.html === null) {
      if (existing) {
        var held = focusIndex(existing);
        if (held >= 0) focusNear(existing, held);
        existing.remove();
      }
    } else {
      // the server escaped every provider-supplied value in this markup
      var template = document.createElement("template");
      template.innerHTML = message.html.trim();
      var tr = template.content.firstElementChild;
      var focused = existing ? focusIndex(existing) : -1;
      noteNews(existing ? existing.getAttribute("data-state") : null, tr);
      tr.hidden = hiddenByFilter(tr);
      // the row leaves the view: focus moves to a neighbour while the row is still in its place
      if (focused >= 0 && tr.hidden) focusNear(existing, focused);
      if (existing && existing.getAttribute("data-sort") === tr.getAttribute("data-sort")) {
        existing.replaceWith(tr);
      } else {
        // its state changed, and so did its place: failing rows come first
        if (existing) existing.remove();
        insertSorted(tr);
      }
      var again = focused >= 0 && !tr.hidden ? tr.querySelectorAll("a,button")[focused] : null;
      if (again) again.focus();
      refreshTimes(tr);
      tr.classList.add("flash");
      setTimeout(function () {
        tr.classList.remove("flash");
      }, 1200);
    }
    if (typeof message.counts === "string") nextCounts = message.counts;
    if (!settling) {
      settling = true;
      setTimeout(settle, 0);
    }
  }

  applyFilter();
  // the server wrote the times in UTC and by its clock: say them in the reader's
  refreshTimes();
  // the empty state's webhook URLs, as the reader reaches this page (a proxy's host and scheme)
  var hookPaths = empty.querySelectorAll("code[data-path]");
  for (var h = 0; h < hookPaths.length; h++) {
    hookPaths[h].textContent = location.origin + hookPaths[h].getAttribute("data-path");
  }

  function setLive(on, text) {
    if (live.textContent !== text) live.textContent = text;
    live.classList.toggle("on", on);
  }

  if (!("EventSource" in window)) {
    setLive(false, "live updates unavailable");
    return;
  }

  // EventSource reconnects by itself (with Last-Event-ID) after a dropped connection, but gives
  // up for good on an answer other than 200: a proxy's 502 during a deploy, or a 401 once the
  // token changed. Then: a 401 reloads the page (its sign-in form), anything else retries.
  var retryMs = 2000;
  // A connection can also go silent without closing (a proxy or NAT that dropped it, a laptop
  // moved to another network): the server pings every few seconds, and a page that has heard
  // nothing for three pings' time starts a new connection, which catches up from lastId.
  var quietMs = 45000;
  function connect() {
    var source = new EventSource(body.getAttribute("data-events") + "?since=" + encodeURIComponent(lastId));
    var watchdog = null;
    function heard() {
      clearTimeout(watchdog);
      watchdog = setTimeout(function () {
        source.close();
        setLive(false, "reconnecting\u2026");
        connect();
      }, quietMs);
    }
    heard();
    source.addEventListener("open", function () {
      retryMs = 2000;
      setLive(true, "live");
      heard();
    });
    source.addEventListener("ping", function (event) {
      var data = JSON.parse(event.data);
      var every = Number(data.every);
      if (every > 0) quietMs = Math.max(3000, 3 * every);
      // the gateway is there but cannot reach its status store: nothing here can change until
      // it does, and then the rows catch up by themselves
      if (data.stale === true) setLive(false, "stale: status store unreachable");
      else setLive(true, "live");
      heard();
    });
    source.addEventListener("error", function () {
      setLive(false, "reconnecting\u2026");
      // the browser tries again by itself; the watchdog covers a try that never answers
      if (source.readyState !== EventSource.CLOSED) return heard();
      clearTimeout(watchdog);
      fetch(location.pathname, { method: "HEAD", credentials: "same-origin", cache: "no-store" })
        .then(function (answer) {
          if (answer.status === 401) location.reload();
          else setTimeout(connect, retryMs);
        })
        .catch(function () {
          setTimeout(connect, retryMs);
        });
      retryMs = Math.min(retryMs * 2, 30000);
    });
    // more rows changed while this page was away than the feed sends as a catch-up: the page
    // loads itself anew (one compressed page instead of megabytes of rows)
    source.addEventListener("reload", function () {
      source.close();
      clearTimeout(watchdog);
      location.reload();
    });
    source.addEventListener("row", function (event) {
      if (event.lastEventId) lastId = event.lastEventId;
      heard();
      applyRow(JSON.parse(event.data));
    });
  }
  connect();
  setInterval(refreshTimes, 30000);
})();
