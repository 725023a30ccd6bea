// simgate web app: keyboard shortcuts and htmx glue. No inline scripts:
// the Content-Security-Policy allows scripts from this origin only.
(function () {
  "use strict";

  function typing(el) {
    if (!el) return false;
    var t = el.tagName;
    return t === "INPUT" || t === "TEXTAREA" || t === "SELECT" || el.isContentEditable;
  }

  // Errors of htmx requests (the server sends a plain-text message) appear
  // in the alert region at the top.
  document.addEventListener("htmx:responseError", function (e) {
    var f = document.getElementById("flash");
    if (!f) return;
    var xhr = e.detail.xhr;
    f.textContent = (xhr && xhr.responseText) || "The request failed. Try again.";
    f.hidden = false;
  });
  document.addEventListener("htmx:sendError", function () {
    var f = document.getElementById("flash");
    if (!f) return;
    f.textContent = "The server cannot be reached. Check the connection and try again.";
    f.hidden = false;
  });
  document.addEventListener("htmx:afterRequest", function (e) {
    var f = document.getElementById("flash");
    if (f && e.detail.successful && !e.detail.elt.hasAttribute("data-keep-flash")) f.hidden = true;
  });

  var pendingG = false;
  document.addEventListener("keydown", function (e) {
    if (e.defaultPrevented || e.altKey || e.metaKey || e.ctrlKey) return;
    if (typing(document.activeElement)) return;
    var base = document.body.getAttribute("data-base") || "/app";
    if (pendingG) {
      pendingG = false;
      if (e.key === "h") { location.href = base + "/"; e.preventDefault(); }
      return;
    }
    if (e.key === "?") { location.href = base + "/help"; e.preventDefault(); return; }
    if (e.key === "g") { pendingG = true; return; }
    // Page-specific shortcuts: an element with data-key="x" is clicked by x.
    var target = document.querySelector('[data-key="' + CSS.escape(e.key) + '"]:not([disabled])');
    if (target) {
      e.preventDefault();
      if (!e.repeat) target.click();
    }
  });
})();
