// simgate web app: keyboard shortcuts and htmx glue. No inline scripts:
// the Content-Security-Policy allows scripts from this origin only.
(function () {
  "use strict";

  // htmxReady makes sure htmx has taken over el's form before a shortcut
  // clicks it (content swapped in a moment ago is processed after it
  // settles); otherwise the click would post the form as a page load.
  function htmxReady(el) {
    var f = el.closest && el.closest("[hx-post],[hx-get]");
    if (f && window.htmx && !(f["htmx-internal-data"] && f["htmx-internal-data"].initHash)) window.htmx.process(f);
  }

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

  // The send button of the first-message screen: a click or Enter sends
  // once. A button that has just appeared ignores clicks for a moment, so
  // that a double click (or a bounce) on the last contact's button does not
  // send to the next one; a held key (repeat) never sends.
  var armDelay = 350;
  function armSendButtons(root) {
    (root || document).querySelectorAll("[data-send]").forEach(function (b) {
      b.setAttribute("data-armed-at", String(Date.now() + armDelay));
    });
  }
  document.addEventListener("DOMContentLoaded", function () { armSendButtons(document); });
  document.addEventListener("htmx:afterSwap", function (e) { armSendButtons(e.detail.target.parentNode || document); });
  document.addEventListener("click", function (e) {
    var b = e.target.closest && e.target.closest("[data-send]");
    if (!b) return;
    var at = Number(b.getAttribute("data-armed-at") || 0);
    if (Date.now() < at || b.hasAttribute("data-sent")) {
      e.preventDefault();
      e.stopImmediatePropagation();
      return;
    }
    b.setAttribute("data-sent", "");
  }, true);

  // Canned responses fill the reply box.
  document.addEventListener("click", function (e) {
    var b = e.target.closest && e.target.closest("[data-fill]");
    if (!b) return;
    var box = document.querySelector(b.getAttribute("data-fill"));
    if (box) { box.value = b.getAttribute("data-text"); box.focus(); }
  });

  // Upload progress for forms that name a <progress>.
  document.addEventListener("htmx:xhr:progress", function (e) {
    var form = e.detail.elt && e.detail.elt.closest && e.detail.elt.closest("[data-upload-progress]");
    if (!form || !e.detail.lengthComputable) return;
    var p = document.querySelector(form.getAttribute("data-upload-progress"));
    if (p) { p.hidden = false; p.value = Math.round(100 * e.detail.loaded / e.detail.total); }
  });

  var pendingG = false;
  document.addEventListener("keydown", function (e) {
    // Ctrl+Enter in a reply box sends it.
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey) && document.activeElement && document.activeElement.tagName === "TEXTAREA") {
      var form = document.activeElement.form;
      var btn = form && form.querySelector("[data-submit-ctrl-enter]");
      e.preventDefault();
      if (btn && !e.repeat) { htmxReady(btn); btn.click(); }
      return;
    }
    if (e.defaultPrevented || e.altKey || e.metaKey || e.ctrlKey) return;
    if (typing(document.activeElement)) return;
    // Enter on the first-message screen is the send shortcut even when the
    // button has focus: the browser's own activation is stopped, so a
    // held key cannot repeat it.
    var send = e.key === "Enter" && document.querySelector("[data-send]");
    if (send) {
      e.preventDefault();
      if (!e.repeat && !send.disabled) { htmxReady(send); send.click(); }
      return;
    }
    var focusTarget = document.querySelector('[data-focus-key="' + CSS.escape(e.key) + '"]');
    if (focusTarget) { e.preventDefault(); focusTarget.focus(); return; }
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
      if (!e.repeat) { htmxReady(target); target.click(); }
    }
  });
})();
