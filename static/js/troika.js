/* Troika shell behaviour: small progressive enhancements; every page also works without this file. */
(function () {
  "use strict";

  function closeMenus(except) {
    document.querySelectorAll("details.menu[open]").forEach(function (menu) {
      if (menu !== except) menu.removeAttribute("open");
    });
  }

  document.addEventListener("click", function (event) {
    var toggle = event.target.closest(".nav-toggle");
    if (toggle) {
      event.preventDefault();
      var open = document.body.classList.toggle("nav-open");
      toggle.setAttribute("aria-expanded", open ? "true" : "false");
      if (open) {
        var first = document.querySelector("#nav a");
        if (first) first.focus();
      }
      return;
    }
    var menu = event.target.closest("details.menu");
    closeMenus(menu);
  });

  document.addEventListener("toggle", function (event) {
    if (event.target.matches && event.target.matches("details.menu") && event.target.open) closeMenus(event.target);
  }, true);

  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") return;
    var open = document.querySelector("details.menu[open]");
    if (open) {
      open.removeAttribute("open");
      var summary = open.querySelector("summary");
      if (summary) summary.focus();
    }
    if (document.body.classList.contains("nav-open")) {
      document.body.classList.remove("nav-open");
      var toggle = document.querySelector(".nav-toggle");
      if (toggle) { toggle.setAttribute("aria-expanded", "false"); toggle.focus(); }
    }
  });

  // "/" focuses the global search, as in most web apps (not while typing in a field).
  document.addEventListener("keydown", function (event) {
    if (event.key !== "/" || event.ctrlKey || event.metaKey || event.altKey) return;
    var tag = (document.activeElement && document.activeElement.tagName) || "";
    if (/^(INPUT|TEXTAREA|SELECT)$/.test(tag) || (document.activeElement && document.activeElement.isContentEditable)) return;
    var box = document.getElementById("global-search");
    if (box && box.offsetParent !== null) { event.preventDefault(); box.focus(); }
  });

  // Bulk actions on a list (templates/ui/_bulk_bar.html): "select all on this page", the count, and only the
  // inputs the chosen action reads. Without this file the tick boxes and every input still work.
  function bulkForm() { return document.getElementById("bulk-form"); }
  function bulkRefresh() {
    var form = bulkForm();
    if (!form) return;
    var picked = document.querySelectorAll('input[name="ids"][form="bulk-form"]:checked').length;
    var count = form.querySelector("[data-bulk-count]");
    if (count) count.textContent = picked ? String(picked) + " \u2713" : "";
    var option = form.querySelector("#bulk-action").selectedOptions[0];
    var wanted = ((option && option.getAttribute("data-fields")) || "").split(" ");
    form.querySelectorAll("[data-bulk-field]").forEach(function (field) {
      field.hidden = wanted.indexOf(field.getAttribute("data-bulk-field")) === -1;
    });
  }
  document.addEventListener("change", function (event) {
    var all = event.target.closest && event.target.closest("[data-bulk-all]");
    if (all) {
      document.querySelectorAll('input[name="ids"][form="bulk-form"]').forEach(function (box) { box.checked = all.checked; });
    }
    if (all || (event.target.name === "ids") || event.target.id === "bulk-action") bulkRefresh();
  });
  document.addEventListener("DOMContentLoaded", bulkRefresh);
  document.addEventListener("htmx:afterSettle", bulkRefresh);

  // Saved views: a list filtered through htmx pushes its filters into the address; the bar saves those.
  function savedViewQuery() {
    document.querySelectorAll("[data-saved-view-query]").forEach(function (input) {
      input.value = window.location.search.replace(/^\?/, "");
    });
  }
  document.addEventListener("htmx:pushedIntoHistory", savedViewQuery);
  document.addEventListener("htmx:replacedInHistory", savedViewQuery);

  // A session that ended while a page polled: go to the login page instead of swapping it into the bell.
  document.addEventListener("htmx:beforeSwap", function (event) {
    var xhr = event.detail.xhr;
    var login = document.body.getAttribute("data-login-url");
    if (xhr && xhr.responseURL && login && new URL(xhr.responseURL).pathname === login) {
      event.detail.shouldSwap = false;
      window.location.assign(login + "?next=" + encodeURIComponent(window.location.pathname + window.location.search));
    }
  });
})();
