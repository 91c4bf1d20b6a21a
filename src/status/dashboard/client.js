// buildcast dashboard: swaps table rows as the live feed (Server-Sent Events) sends them.
// Plain browser JavaScript, no build step; served as /dashboard.js so a strict CSP needs no 'unsafe-inline'.
(function () {
  "use strict";
  var body = document.body;
  var rows = document.getElementById("rows");
  var live = document.getElementById("live");
  var counts = document.getElementById("counts");
  var empty = document.getElementById("empty");
  var since = body.getAttribute("data-revision") || "0";

  function ago(iso) {
    var then = Date.parse(iso);
    if (!iso || isNaN(then)) return "\u2013";
    var s = Math.max(0, Math.round((Date.now() - then) / 1000));
    if (s < 45) return "just now";
    if (s < 3600) return Math.max(1, Math.round(s / 60)) + " min ago";
    if (s < 86400) return Math.round(s / 3600) + " h ago";
    return Math.round(s / 86400) + " d ago";
  }

  function refreshTimes() {
    var times = document.querySelectorAll("time[datetime]");
    for (var i = 0; i < times.length; i++) times[i].textContent = ago(times[i].getAttribute("datetime"));
  }

  function insertSorted(tr) {
    var key = tr.getAttribute("data-sort");
    var children = rows.children;
    for (var i = 0; i < children.length; i++) {
      if (children[i].getAttribute("data-sort") > key) {
        rows.insertBefore(tr, children[i]);
        return;
      }
    }
    rows.appendChild(tr);
  }

  function applyRow(message) {
    var existing = document.getElementById(message.id);
    if (message.html === null) {
      if (existing) existing.remove();
    } else {
      // the server escaped every provider-supplied value in this markup
      var template = document.createElement("template");
      template.innerHTML = message.html.trim();
      var tr = template.content.firstElementChild;
      if (existing) existing.replaceWith(tr);
      else insertSorted(tr);
      tr.classList.add("flash");
      setTimeout(function () {
        tr.classList.remove("flash");
      }, 1200);
    }
    if (typeof message.counts === "string") counts.innerHTML = message.counts;
    empty.hidden = rows.children.length > 0;
    refreshTimes();
  }

  function setLive(on, text) {
    live.textContent = text;
    live.classList.toggle("on", on);
  }

  if (!("EventSource" in window)) {
    setLive(false, "live updates unavailable");
    return;
  }
  // EventSource reconnects by itself and sends Last-Event-ID, so nothing is missed in between
  var source = new EventSource(body.getAttribute("data-events") + "?since=" + encodeURIComponent(since));
  source.addEventListener("open", function () {
    setLive(true, "live");
  });
  source.addEventListener("error", function () {
    setLive(false, "reconnecting\u2026");
  });
  source.addEventListener("row", function (event) {
    applyRow(JSON.parse(event.data));
  });
  setInterval(refreshTimes, 30000);
})();
