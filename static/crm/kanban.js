/* CRM pipeline board: drag a card to another stage column. On drop the move is POSTed (with the CSRF token)
 * to the card's move URL; the answer is the card as it is now, which replaces the dragged one in the target
 * column, and the columns' heads are then refreshed in the background (counts and totals). A refused move
 * (e.g. "lost" needs a reason) leaves the card where it was and says why in the board's live region.
 * Without this file (or without a mouse) every card has a "Move to…" form that does the same. */
(function () {
  "use strict";

  var dragged = null;

  function csrfToken() {
    try {
      return JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRFToken"] || "";
    } catch (error) {
      return "";
    }
  }

  function announce(text) {
    var region = document.getElementById("board-status");
    if (region) region.textContent = text || "";
  }

  function columnOf(node) {
    return node && node.closest ? node.closest(".kanban-column") : null;
  }

  function clearTargets() {
    document.querySelectorAll(".kanban-column.drop-target").forEach(function (column) {
      column.classList.remove("drop-target");
    });
  }

  // After a move only the columns' heads (count, amount) are fetched again: the cards stay as they are, so the
  // cards a "Show more" brought in stay on the board. The two columns' "Show more" then skip one card fewer
  // (the column the card left) or one more (the column it joined).
  function refreshHeads() {
    fetch(window.location.pathname + window.location.search, { credentials: "same-origin" })
      .then(function (response) {
        return response.ok ? response.text() : "";
      })
      .then(function (html) {
        if (!html) return;
        var fresh = new DOMParser().parseFromString(html, "text/html");
        fresh.querySelectorAll(".kanban-column").forEach(function (column) {
          var here = document.querySelector('.kanban-column[data-stage="' + column.getAttribute("data-stage") + '"]');
          var head = here && here.querySelector(".kanban-head");
          if (!head) return;
          head.replaceWith(document.importNode(column.querySelector(".kanban-head"), true));
          // "Drop here" where a column was emptied, none where a card arrived
          var cards = here.querySelector(".kanban-cards");
          var empty = cards.querySelector(".kanban-empty");
          var freshEmpty = column.querySelector(".kanban-empty");
          if (cards.querySelector(".kanban-card")) {
            if (empty) empty.remove();
          } else if (!empty && freshEmpty) {
            cards.prepend(document.importNode(freshEmpty, true));
          }
        });
      })
      .catch(function () {});
  }

  function shiftMore(column, by) {
    var more = column && column.querySelector(".kanban-more[hx-get]");
    if (!more) return;
    var url = new URL(more.getAttribute("hx-get"), window.location.href);
    url.searchParams.set("offset", String(Math.max(0, parseInt(url.searchParams.get("offset") || "0", 10) + by)));
    more.setAttribute("hx-get", url.pathname + url.search);
    if (window.htmx) window.htmx.process(more);
  }

  document.addEventListener("dragstart", function (event) {
    var card = event.target.closest ? event.target.closest(".kanban-card[draggable='true']") : null;
    if (!card) return;
    dragged = card;
    card.classList.add("dragging");
    event.dataTransfer.effectAllowed = "move";
    event.dataTransfer.setData("text/plain", card.id);
  });

  document.addEventListener("dragend", function () {
    if (dragged) dragged.classList.remove("dragging");
    dragged = null;
    clearTargets();
  });

  document.addEventListener("dragover", function (event) {
    var column = columnOf(event.target);
    if (!column || !dragged) return;
    event.preventDefault();
    event.dataTransfer.dropEffect = "move";
    if (!column.classList.contains("drop-target")) {
      clearTargets();
      column.classList.add("drop-target");
    }
  });

  document.addEventListener("drop", function (event) {
    var column = columnOf(event.target);
    if (!column || !dragged) return;
    event.preventDefault();
    clearTargets();
    var card = dragged;
    dragged = null;
    card.classList.remove("dragging");
    if (columnOf(card) === column) return;

    var board = document.getElementById("board");
    var body = new FormData();
    body.append("stage", column.getAttribute("data-stage"));
    card.classList.add("moving");
    announce("");
    fetch(card.getAttribute("data-move-url"), {
      method: "POST",
      body: body,
      credentials: "same-origin",
      headers: { "X-CSRFToken": csrfToken(), "X-Kanban-Drop": "1" }
    })
      .then(function (response) {
        return response.text().then(function (text) {
          return { ok: response.ok, status: response.status, text: text, redirect: response.redirected };
        });
      })
      .then(function (result) {
        card.classList.remove("moving");
        if (result.redirect || result.status === 204) {
          window.location.reload(); // the session ended: the login page takes over
          return;
        }
        if (!result.ok) {
          announce(result.status === 422 ? result.text : board.getAttribute("data-error-message"));
          return;
        }
        var holder = document.createElement("template");
        holder.innerHTML = result.text.trim();
        var fresh = holder.content.firstElementChild;
        var left = columnOf(card);
        column.querySelector(".kanban-cards").prepend(fresh);
        card.remove();
        if (window.htmx) window.htmx.process(fresh);
        shiftMore(left, -1);
        shiftMore(column, 1);
        announce("");
        refreshHeads();
      })
      .catch(function () {
        card.classList.remove("moving");
        announce(board ? board.getAttribute("data-error-message") : "");
      });
  });
})();
