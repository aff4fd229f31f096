/* CRM pipeline board: drag a card to another stage column. On drop the move is POSTed (with the CSRF token)
 * to the card's move URL; the answer is the card as it is now, which replaces the dragged one in the target
 * column, and the board is then refreshed in the background (column counts and totals). A refused move
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

  function refreshBoard() {
    var board = document.getElementById("board");
    if (!board || !window.htmx) return;
    window.htmx.ajax("GET", window.location.pathname + window.location.search, {
      target: "#board",
      select: "#board",
      swap: "outerHTML"
    });
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
        column.querySelector(".kanban-cards").prepend(fresh);
        card.remove();
        if (window.htmx) window.htmx.process(fresh);
        announce("");
        refreshBoard();
      })
      .catch(function () {
        card.classList.remove("moving");
        announce(board ? board.getAttribute("data-error-message") : "");
      });
  });
})();
