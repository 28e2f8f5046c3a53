// Guestbook: small progressive enhancements. Every page works without this file; with it,
// times read as "3 minutes ago", the comment box counts what is left, and a browser that
// refuses cookies is told before it posts a form. Loaded with `defer`: the page is parsed.
"use strict";

(function () {
  // Relative times. The exact UTC time stays in the element's `datetime` and `title`.
  var MINUTE = 60, HOUR = 3600, DAY = 86400;
  var relative = window.Intl && Intl.RelativeTimeFormat
    ? new Intl.RelativeTimeFormat("en", { numeric: "auto" })
    : null;

  function ago(seconds) {
    // A clock a little ahead of ours is not "in 2 minutes".
    if (seconds < 45) return "just now";
    var steps = [
      [HOUR, MINUTE, "minute"],
      [DAY, HOUR, "hour"],
      [30 * DAY, DAY, "day"],
      [365 * DAY, 30 * DAY, "month"],
      [Infinity, 365 * DAY, "year"],
    ];
    for (var i = 0; i < steps.length; i++) {
      var below = steps[i][0], size = steps[i][1], unit = steps[i][2];
      if (seconds < below) {
        var count = Math.max(1, Math.floor(seconds / size));
        if (relative) return relative.format(-count, unit);
        return count + " " + unit + (count === 1 ? "" : "s") + " ago";
      }
    }
    return "";
  }

  function showRelativeTimes() {
    var now = Date.now();
    var times = document.querySelectorAll("time[data-relative][datetime]");
    for (var i = 0; i < times.length; i++) {
      var at = Date.parse(times[i].getAttribute("datetime"));
      if (!isNaN(at)) times[i].textContent = ago((now - at) / 1000);
    }
  }

  // Time left to do something ("another 14 minutes"), in the server's words (display.rs's
  // `time_left`). Once it is up, what it was for is hidden: the server refuses it now.
  function left(seconds) {
    var count = function (unit, name) {
      var n = Math.floor(seconds / unit);
      return "another " + n + " " + name + (n === 1 ? "" : "s");
    };
    if (seconds < MINUTE) return "less than a minute";
    if (seconds < 2 * HOUR) return count(MINUTE, "minute");
    if (seconds < 2 * DAY) return count(HOUR, "hour");
    return count(DAY, "day");
  }

  function showTimesLeft() {
    var now = Date.now();
    var times = document.querySelectorAll("time[data-remaining][datetime]");
    for (var i = 0; i < times.length; i++) {
      var until = Date.parse(times[i].getAttribute("datetime"));
      if (isNaN(until)) continue;
      var seconds = (until - now) / 1000;
      if (seconds > 0) {
        times[i].textContent = left(seconds);
      } else {
        var closes = times[i].closest(".closes-with-time");
        if (closes) closes.hidden = true;
      }
    }
  }

  // A comment form whose posting is paused (too many comments from this network): its
  // button waits until posting opens again, then works.
  function pauseForm(form) {
    var seconds = parseInt(form.getAttribute("data-paused-for"), 10);
    var button = form.querySelector("button[type=submit]");
    if (!button || !(seconds > 0)) return;
    var label = button.textContent;
    var opensAt = Date.now() + seconds * 1000;
    button.disabled = true;
    var tick = function () {
      var wait = (opensAt - Date.now()) / 1000;
      if (wait <= 0) {
        button.disabled = false;
        button.textContent = label;
        return;
      }
      button.textContent = label + " (" + (wait < MINUTE
        ? "in " + Math.ceil(wait) + " s"
        : "in " + Math.ceil(wait / MINUTE) + " min") + ")";
      setTimeout(tick, 1000);
    };
    tick();
  }

  // The comment box: what is left of the limit, counted in Unicode code points after
  // trimming, as the server counts (the browser's own maxlength counts UTF-16 units, so it
  // would stop short for emoji: the counter replaces it).
  var numbers = window.Intl ? new Intl.NumberFormat("en") : null;

  function formatCount(n) {
    return numbers ? numbers.format(n) : String(n);
  }

  function characters(n) {
    return formatCount(n) + (n === 1 ? " character" : " characters");
  }

  function setUpCounter(textarea) {
    var counter = document.getElementById("comment-counter");
    var max = parseInt(textarea.getAttribute("data-max-chars"), 10);
    if (!counter || !(max > 0)) return;
    textarea.removeAttribute("maxlength");
    var update = function () {
      var used = Array.from(textarea.value.trim()).length;
      var left = max - used;
      counter.textContent = left >= 0
        ? characters(left) + " left"
        : characters(-left) + " too many";
      counter.classList.toggle("counter-over", left < 0);
    };
    update();
    counter.hidden = false;
    textarea.addEventListener("input", update);
  }

  // Cookies refused: say so above the forms, unless the server already did.
  function warnWithoutCookies() {
    if (navigator.cookieEnabled !== false) return;
    if (document.querySelector(".cookies-refused")) return;
    var notice = document.getElementById("cookies-off");
    if (notice) notice.hidden = false;
  }

  warnWithoutCookies();
  showRelativeTimes();
  showTimesLeft();
  setInterval(function () {
    showRelativeTimes();
    showTimesLeft();
  }, 15 * 1000);
  var paused = document.querySelector("form[data-paused-for]");
  if (paused) pauseForm(paused);
  var comment = document.querySelector("textarea[data-max-chars]");
  if (comment) setUpCounter(comment);
})();
