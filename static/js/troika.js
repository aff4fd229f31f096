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

  // Saved views: a list filtered through htmx pushes its filters into the address; the bar saves those. With a
  // view open, the address keeps "view=<id>" (a reload still knows the view) and the bar says when the filters
  // differ from the view's, offering to keep them in it (the server compares the same way: suite.ui.saved_views).
  var ONE_OFF = ["page", "export", "view", "csrfmiddlewaretoken"];
  function filtersOf(search) {
    var pairs = [];
    new URLSearchParams(search).forEach(function (value, key) {
      if (ONE_OFF.indexOf(key) < 0 && value.trim()) pairs.push(key + "=" + value.trim());
    });
    return pairs.sort().join("&");
  }
  function savedViewQuery() {
    var params = new URLSearchParams(window.location.search);
    var bar = document.querySelector("[data-saved-view-current]");
    if (bar && !params.has("view")) {
      params.set("view", bar.getAttribute("data-saved-view-current"));
      history.replaceState(history.state, "", window.location.pathname + "?" + params.toString());
    }
    params.delete("view");
    document.querySelectorAll("[data-saved-view-query]").forEach(function (input) {
      input.value = params.toString();
    });
    if (bar) {
      var changed = filtersOf(params.toString()) !== filtersOf(bar.getAttribute("data-saved-view-filters") || "");
      bar.querySelectorAll("[data-saved-view-changed]").forEach(function (node) {
        node.hidden = !changed;
      });
    }
  }
  document.addEventListener("htmx:pushedIntoHistory", savedViewQuery);
  document.addEventListener("htmx:replacedInHistory", savedViewQuery);

  // @mentions: "@" and part of a name in a note box (textarea[data-mentions-url]) offers the colleagues it may
  // mean; arrows move, Enter or Tab (or a click) inserts "@name ", Escape closes.
  var mentionList = null;
  var mentionTimer = null;
  function mentionToken(area) {
    var upto = area.value.slice(0, area.selectionStart);
    var match = /(^|[^A-Za-z0-9._%+\-])[@\uff20]([^\s@\uff20]{0,20})$/.exec(upto);
    return match ? { start: upto.length - match[2].length - 1, typed: match[2] } : null;
  }
  function closeMentions() {
    if (!mentionList) return;
    mentionList.area.removeAttribute("aria-activedescendant");
    mentionList.area.setAttribute("aria-expanded", "false");
    mentionList.node.remove();
    mentionList = null;
  }
  function chooseMention(person) {
    var area = mentionList.area;
    var token = mentionToken(area);
    closeMentions();
    if (!token) return;
    var before = area.value.slice(0, token.start);
    var inserted = "@" + person.insert + " ";
    area.value = before + inserted + area.value.slice(area.selectionStart);
    area.setSelectionRange(before.length + inserted.length, before.length + inserted.length);
    area.focus();
  }
  function markMention(index) {
    var options = mentionList.node.querySelectorAll("[role=option]");
    options.forEach(function (option, at) { option.setAttribute("aria-selected", at === index ? "true" : "false"); });
    mentionList.index = index;
    mentionList.area.setAttribute("aria-activedescendant", options[index].id);
  }
  function showMentions(area, people) {
    closeMentions();
    if (!people.length) return;
    var node = document.createElement("ul");
    node.className = "mention-list";
    node.id = area.id + "-mentions";
    node.setAttribute("role", "listbox");
    people.forEach(function (person, index) {
      var option = document.createElement("li");
      option.id = node.id + "-" + index;
      option.setAttribute("role", "option");
      option.textContent = person.name === person.username ? person.name : person.name + " \u00b7 " + person.username;
      option.addEventListener("mousedown", function (event) {
        event.preventDefault();
        chooseMention(person);
      });
      node.appendChild(option);
    });
    area.insertAdjacentElement("afterend", node);
    area.setAttribute("aria-controls", node.id);
    area.setAttribute("aria-expanded", "true");
    mentionList = { node: node, area: area, people: people, index: 0 };
    markMention(0);
  }
  document.addEventListener("input", function (event) {
    var area = event.target;
    if (!area.matches || !area.matches("textarea[data-mentions-url]")) return;
    clearTimeout(mentionTimer);
    var token = mentionToken(area);
    if (!token) {
      closeMentions();
      return;
    }
    mentionTimer = setTimeout(function () {
      fetch(area.getAttribute("data-mentions-url") + "?q=" + encodeURIComponent(token.typed), { credentials: "same-origin" })
        .then(function (response) { return response.ok ? response.json() : { people: [] }; })
        .then(function (answer) {
          var now = mentionToken(area);
          if (now && now.start === token.start && now.typed === token.typed) showMentions(area, answer.people || []);
        })
        .catch(function () {});
    }, 150);
  });
  document.addEventListener("keydown", function (event) {
    if (!mentionList || event.target !== mentionList.area) return;
    var count = mentionList.people.length;
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      markMention((mentionList.index + (event.key === "ArrowDown" ? 1 : count - 1)) % count);
    } else if (event.key === "Enter" || event.key === "Tab") {
      event.preventDefault();
      chooseMention(mentionList.people[mentionList.index]);
    } else if (event.key === "Escape") {
      closeMentions();
    }
  });
  document.addEventListener("focusout", function (event) {
    if (mentionList && event.target === mentionList.area) closeMentions();
  });

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
