"use strict";
(function () {
  const root = document.getElementById("run");
  const viewUrl = root.dataset.view;
  const apiUrl = root.dataset.api;
  const actor = document.getElementById("actor");
  const message = document.getElementById("message");
  // No field when the service names who acts: the body then names nobody.
  if (actor) {
    actor.value = localStorage.getItem("agentical.actor") || "";
    actor.addEventListener("change", () => localStorage.setItem("agentical.actor", actor.value));
  }

  function setStatus(element, status, waiting) {
    for (const name of [...element.classList]) {
      if (name.startsWith("status-")) element.classList.remove(name);
    }
    element.classList.add("status-" + status);
    element.classList.toggle("waiting", waiting);
  }

  function apply(view) {
    const pill = document.getElementById("run-status");
    pill.textContent = view.status;
    setStatus(pill, view.status, false);
    document.getElementById("run-progress").style.width = view.progress + "%";
    document.getElementById("run-timing").textContent = view.timing;
    for (const step of view.steps) {
      for (const element of document.querySelectorAll('[data-step="' + CSS.escape(step.name) + '"]')) {
        setStatus(element, step.status, step.waiting);
        element.dataset.status = step.status;
        const label = step.waiting ? "waiting" : step.status;
        for (const text of element.querySelectorAll(".status-text")) text.textContent = label;
        for (const text of element.querySelectorAll(".timing-text")) text.textContent = step.timing;
        for (const text of element.querySelectorAll(".node-timing")) {
          text.textContent = step.timing ? " · " + step.timing : "";
        }
        for (const text of element.querySelectorAll(".by-text")) text.textContent = step.by || "";
        for (const text of element.querySelectorAll(".error")) text.textContent = step.error || "";
        for (const actions of element.querySelectorAll(".actions")) {
          actions.hidden = !step.waiting;
        }
      }
    }
    showTrail(view.trail);
    return view.finished;
  }

  function cell(row, text, className) {
    const td = row.insertCell();
    td.textContent = text;
    if (className) td.className = className;
    return td;
  }

  function showTrail(entries) {
    const body = document.getElementById("trail");
    body.replaceChildren();
    for (const entry of entries) {
      const row = body.insertRow();
      cell(row, entry.when, "timing");
      cell(row, entry.actor);
      cell(row, entry.action);
      cell(row, entry.step || "");
      const change = cell(row, entry.change, "meta");
      const reason = document.createElement("span");
      reason.className = "error";
      reason.textContent = entry.reason || "";
      change.append(reason);
    }
    document.getElementById("trail-empty").hidden = entries.length > 0;
  }

  async function refresh() {
    let finished = false;
    try {
      const response = await fetch(viewUrl, { cache: "no-store" });
      if (response.ok) finished = apply(await response.json());
    } finally {
      if (!finished) setTimeout(refresh, 1000);
    }
  }

  async function decide(step, action) {
    const body = { by: (actor && actor.value.trim()) || null };
    if (action === "reject") {
      const reason = window.prompt("Why is '" + step + "' rejected?");
      if (!reason) return;
      body.reason = reason;
    }
    const response = await fetch(apiUrl + "/steps/" + encodeURIComponent(step) + "/" + action, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
    if (response.ok) {
      message.hidden = true;
      apply(await fetch(viewUrl, { cache: "no-store" }).then((r) => r.json()));
    } else {
      const error = await response.json();
      message.textContent = error.problems
        .map((p) => (p.field ? p.field + ": " : "") + p.reason)
        .join("; ");
      message.hidden = false;
    }
  }

  document.addEventListener("click", (event) => {
    const button = event.target.closest("button[data-action]");
    if (button) decide(button.dataset.stepName, button.dataset.action);
  });
  setTimeout(refresh, 1000);
})();
