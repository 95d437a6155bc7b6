// Progressive enhancement: live progress of running runs. Without scripts the pages refresh themselves.
(function () {
  "use strict";
  var INTERVAL = 2000;

  function poll(ids, onRuns) {
    var query = ids.map(function (id) { return "run=" + encodeURIComponent(id); }).join("&");
    fetch("/runs.json?" + query, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (body) { if (body) { onRuns(body.runs); } })
      .catch(function () { /* the next tick tries again */ });
  }

  function seconds(value) {
    if (value < 1) { return Math.round(value * 1000) + "ms"; }
    if (value < 60) { return value.toFixed(1) + "s"; }
    var m = Math.floor(value / 60), s = Math.floor(value % 60);
    return m + "m " + (s < 10 ? "0" : "") + s + "s";
  }

  function followList(table) {
    function tick() {
      var rows = Array.prototype.slice.call(table.querySelectorAll("tr[data-active='yes']"));
      if (!rows.length) { return; }
      poll(rows.map(function (row) { return row.getAttribute("data-run-id"); }), function (runs) {
        runs.forEach(function (run) {
          var row = table.querySelector("tr[data-run-id='" + run.id + "']");
          if (!row) { return; }
          var state = row.querySelector("[data-field='state']");
          state.textContent = run.state;
          state.className = "badge state-" + run.state;
          row.querySelector("[data-field='step']").textContent = run.active && run.step ? "next: " + run.step : "";
          row.querySelector("[data-field='seconds']").textContent = seconds(run.seconds);
          row.querySelector("[data-field='steps']").textContent = String(run.steps);
          row.querySelector("[data-field='tickets']").textContent = String(run.tickets);
          row.setAttribute("data-active", run.active ? "yes" : "no");
        });
        window.setTimeout(tick, INTERVAL);
      });
    }
    window.setTimeout(tick, INTERVAL);
  }

  function followRun(facts) {
    var id = facts.getAttribute("data-run-id"), shown = facts.getAttribute("data-state");
    var steps = null;
    function tick() {
      poll([id], function (runs) {
        var run = runs[0];
        if (!run) { return; }
        if (run.state !== shown || (steps !== null && run.steps !== steps) || !run.active) {
          window.location.reload();
          return;
        }
        steps = run.steps;
        window.setTimeout(tick, INTERVAL);
      });
    }
    window.setTimeout(tick, INTERVAL);
  }

  document.addEventListener("DOMContentLoaded", function () {
    var table = document.getElementById("runs-table");
    if (table && table.getAttribute("data-poll") === "on") { followList(table); }
    var facts = document.getElementById("run-facts");
    if (facts && facts.getAttribute("data-poll") === "on") { followRun(facts); }
  });
})();
