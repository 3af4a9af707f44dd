// Hooktrail pages work without this file; it only adds conveniences:
// relative times that stay current, "expand all", expanded entries when printing, "/" to jump
// to a job, and live timelines (new lines announced by a pill, changed lines updated in place).
// It reads and writes the page's own markup only, and what the server rendered for a live
// line; nothing here is inline, so the Content-Security-Policy can forbid inline script.
(function () {
  "use strict";

  // The same rounding and wording as the server's (src/render/format.rs): minutes and hours
  // the same local day, then calendar days in the page's timezone, as the day headings count.
  function span(s) {
    var n, unit;
    if (s < 90) { n = 1; unit = "minute"; }
    else if (s < 3600) { n = Math.floor((s + 30) / 60); unit = "minute"; }
    else if (s < 5400) { n = 1; unit = "hour"; }
    else { n = Math.floor((s + 1800) / 3600); unit = "hour"; }
    return n + " " + unit + (n === 1 ? "" : "s");
  }

  var zone = document.documentElement.getAttribute("data-timezone") || "UTC";
  var dayFormat = null;
  try {
    dayFormat = new Intl.DateTimeFormat("en-CA", { timeZone: zone, year: "numeric", month: "2-digit", day: "2-digit" });
  } catch (e) { dayFormat = null; }

  // The local calendar day of a moment, as a day number.
  function localDay(ms) {
    var parts = dayFormat.format(new Date(ms)).split("-");
    return Date.UTC(+parts[0], +parts[1] - 1, +parts[2]) / 86400000;
  }

  // Past 30 days the server shows a date, which needs no refreshing.
  function relative(then, now) {
    var seconds = Math.round((now - then) / 1000);
    if (seconds < -90) return "in " + span(-seconds);
    if (seconds < 45) return "just now";
    if (!dayFormat) return null;
    var days = localDay(now) - localDay(then);
    if (days <= 0) return span(seconds) + " ago";
    if (days === 1) return "yesterday";
    if (days < 30) return days + " days ago";
    return null;
  }

  function refreshTimes() {
    var now = Date.now();
    document.querySelectorAll("time[data-relative]").forEach(function (node) {
      var then = Date.parse(node.getAttribute("datetime"));
      var text = isNaN(then) ? null : relative(then, now);
      if (text && node.textContent !== text) node.textContent = text;
    });
  }

  function entryDetails() {
    return document.querySelectorAll(".entry > details");
  }

  function addExpandAll() {
    var timeline = document.querySelector(".timeline");
    if (!timeline || entryDetails().length < 2) return;
    var tools = document.createElement("div");
    tools.className = "timeline-tools";
    var button = document.createElement("button");
    button.type = "button";
    button.className = "button-quiet";
    button.setAttribute("aria-pressed", "false");
    button.textContent = "Expand all";
    button.addEventListener("click", function () {
      var open = button.getAttribute("aria-pressed") !== "true";
      entryDetails().forEach(function (d) { d.open = open; });
      button.setAttribute("aria-pressed", String(open));
      button.textContent = open ? "Collapse all" : "Expand all";
    });
    tools.appendChild(button);
    timeline.parentNode.insertBefore(tools, timeline);
  }

  // Printing a timeline should show what each entry says, not just its line.
  var openedForPrint = [];
  window.addEventListener("beforeprint", function () {
    entryDetails().forEach(function (d) {
      if (!d.open) { d.open = true; openedForPrint.push(d); }
    });
  });
  window.addEventListener("afterprint", function () {
    openedForPrint.forEach(function (d) { d.open = false; });
    openedForPrint = [];
  });

  // Newest first: by the time a line shows (ISO 8601 in UTC, so text order is time order),
  // then by entry id (ULIDs sort by receipt).
  function newerThan(a, b) {
    var at = a.getAttribute("data-at"), bt = b.getAttribute("data-at");
    if (at !== bt) return at > bt;
    return a.id > b.id;
  }

  function insertInOrder(parent, node, selector, newer) {
    var siblings = parent.querySelectorAll(selector);
    for (var i = 0; i < siblings.length; i++) {
      if (newer(node, siblings[i])) { parent.insertBefore(node, siblings[i]); return; }
    }
    parent.appendChild(node);
  }

  // A line the page shows already is replaced where it stands, open if it was open.
  function replaceLine(existing, line) {
    var was = existing.querySelector("details"), now = line.querySelector("details");
    if (was && now) now.open = was.open;
    existing.replaceWith(line);
  }

  // Puts a new line under its day (made if the page has none), both in time order.
  function placeLine(timeline, day) {
    var line = day.querySelector("li.entry");
    var existing = document.getElementById(line.id);
    if (existing) { replaceLine(existing, line); return; }
    var known = timeline.querySelector('section.day[aria-labelledby="' + day.getAttribute("aria-labelledby") + '"]');
    line.classList.add("entry-new");
    if (known) {
      insertInOrder(known.querySelector("ol.entries"), line, "li.entry", newerThan);
    } else {
      insertInOrder(timeline, day, "section.day", function (a, b) {
        return a.getAttribute("aria-labelledby") > b.getAttribute("aria-labelledby");
      });
    }
  }

  function followTimeline() {
    var root = document.querySelector(".activity[data-stream]");
    if (!root || !window.EventSource) return;
    var after = root.getAttribute("data-after");
    var category = root.getAttribute("data-category");
    var onlyUnmatched = root.getAttribute("data-only") === "unmatched";
    var waiting = [];
    var pill = document.createElement("button");
    pill.type = "button";
    pill.className = "new-pill";
    pill.hidden = true;
    root.insertBefore(pill, root.firstChild);

    function showPill() {
      pill.hidden = waiting.length === 0;
      pill.textContent = waiting.length === 1 ? "1 new entry" : waiting.length + " new entries";
    }

    pill.addEventListener("click", function () {
      var timeline = root.querySelector(".timeline");
      // An empty timeline has no icons or day list yet: the page itself is the simplest way.
      if (!timeline) { window.location.reload(); return; }
      waiting.forEach(function (day) { placeLine(timeline, day); });
      waiting = [];
      showPill();
      refreshTimes();
    });

    // A chip's count grows with each new entry of its category (not past a "100+").
    function countIn(key) {
      var count = document.querySelector(".chip-" + key + " .chip-count[data-count]");
      if (!count) return;
      var n = parseInt(count.getAttribute("data-count"), 10) + 1;
      count.setAttribute("data-count", n);
      count.lastChild.textContent = String(n);
      count.parentNode.classList.remove("chip-empty");
    }

    function received(event) {
      if (event.lastEventId) after = event.lastEventId;
      var entry = JSON.parse(event.data);
      var lineId = "entry-" + entry.id;
      var seen = document.getElementById(lineId) || waiting.some(function (d) { return d.querySelector("li.entry").id === lineId; });
      // One the page already counted (committed while it loaded) is not counted again.
      if (entry.change === "new" && !seen) { countIn("all"); countIn(entry.category); }
      if (category && entry.category !== category) return;
      if (onlyUnmatched && entry.subjects && entry.subjects.length > 0) {
        // It found its job or sales document: it leaves the list.
        var gone = document.getElementById("entry-" + entry.id);
        if (gone) gone.remove();
        waiting = waiting.filter(function (d) { return d.querySelector("li.entry").id !== "entry-" + entry.id; });
        showPill();
        return;
      }
      var template = document.createElement("template");
      template.innerHTML = entry.html;
      var day = template.content.querySelector("section.day");
      if (!day) return;
      var line = day.querySelector("li.entry");
      var existing = document.getElementById(line.id);
      if (existing) { replaceLine(existing, line); refreshTimes(); return; }
      // Changed again before it was shown: keep the latest.
      waiting = waiting.filter(function (d) { return d.querySelector("li.entry").id !== line.id; });
      waiting.push(day);
      showPill();
    }

    function connect() {
      var stream = root.getAttribute("data-stream");
      var source = new EventSource(stream + (stream.indexOf("?") < 0 ? "?" : "&") + "after=" + encodeURIComponent(after));
      source.addEventListener("entry", received);
      source.addEventListener("error", function () {
        // While CONNECTING the browser retries by itself, with Last-Event-ID. CLOSED means it
        // gave up (the gateway refused or went away): try again later from the last line seen.
        if (source.readyState === EventSource.CLOSED) window.setTimeout(connect, 5000);
      });
    }
    connect();
  }

  // `#entry-…` in the address: open that entry and mark it, below the page's top edge.
  function openLinkedEntry() {
    var match = /^#(entry-[0-9A-Za-z]+)$/.exec(window.location.hash);
    var line = match && document.getElementById(match[1]);
    if (!line) return;
    var details = line.querySelector("details");
    if (details) details.open = true;
    document.querySelectorAll(".entry-target").forEach(function (n) { n.classList.remove("entry-target"); });
    line.classList.add("entry-target");
    line.scrollIntoView({ block: "start" });
  }

  // Every entry's link can be copied whole, to paste into a message or a ticket.
  function addCopyLinks() {
    if (!navigator.clipboard) return;
    document.addEventListener("click", function (event) {
      var link = event.target.closest && event.target.closest("a.entry-link");
      if (!link) return;
      event.preventDefault();
      var url = window.location.origin + window.location.pathname + link.getAttribute("href");
      navigator.clipboard.writeText(url).then(function () {
        link.textContent = "Link copied";
        window.setTimeout(function () { link.textContent = "Link to this entry"; }, 2000);
      }, function () { window.location.hash = link.getAttribute("href"); });
    });
  }

  window.addEventListener("hashchange", openLinkedEntry);

  document.addEventListener("keydown", function (event) {
    if (event.key !== "/" || event.ctrlKey || event.metaKey || event.altKey) return;
    var target = event.target;
    if (target && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName))) return;
    var jump = document.getElementById("jump-id");
    if (jump) { event.preventDefault(); jump.focus(); }
  });

  document.addEventListener("DOMContentLoaded", function () {
    document.documentElement.classList.add("js");
    addExpandAll();
    addCopyLinks();
    followTimeline();
    refreshTimes();
    openLinkedEntry();
    window.setInterval(refreshTimes, 60 * 1000);
  });
})();
