// Hooktrail pages work without this file; it only adds conveniences:
// relative times that stay current, "expand all", expanded entries when printing, and "/" to
// jump to a job. It reads and writes the page's own markup only; nothing here is inline, so the
// Content-Security-Policy can forbid inline script entirely.
(function () {
  "use strict";

  // The same rounding and wording as the server's (src/render/format.rs).
  function span(s) {
    var n, unit;
    if (s < 90) { n = 1; unit = "minute"; }
    else if (s < 3600) { n = Math.floor((s + 30) / 60); unit = "minute"; }
    else if (s < 5400) { n = 1; unit = "hour"; }
    else if (s < 86400) { n = Math.floor((s + 1800) / 3600); unit = "hour"; }
    else if (s < 129600) { n = 1; unit = "day"; }
    else { n = Math.floor((s + 43200) / 86400); unit = "day"; }
    return n + " " + unit + (n === 1 ? "" : "s");
  }

  // Older than 30 days the server shows a date, which needs no refreshing.
  function relative(then, now) {
    var seconds = Math.round((now - then) / 1000);
    if (seconds < -90) return "in " + span(-seconds);
    if (seconds < 45) return "just now";
    if (seconds < 30 * 86400) return span(seconds) + " ago";
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
    refreshTimes();
    window.setInterval(refreshTimes, 60 * 1000);
  });
})();
