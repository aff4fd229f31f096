/* Dashboards (issue #7): draws each chart from its json_script data with the locally served Chart.js
   (django-chartjs) and sends a click on a bar, point or slice to that point's drill-down URL. The same numbers
   are in each chart's <details> table, so the page works without JavaScript. */
(function () {
  "use strict";
  var PALETTE = ["#2563eb", "#16a34a", "#f59e0b", "#dc2626", "#7c3aed", "#0891b2", "#db2777", "#65a30d", "#ea580c", "#475569"];
  var TYPES = { bar: "bar", hbar: "horizontalBar", funnel: "horizontalBar", line: "line", pie: "pie", doughnut: "doughnut" };

  function datasets(spec) {
    var round = spec.kind === "pie" || spec.kind === "doughnut";
    var series = spec.kind === "funnel" ? spec.series.slice(0, 1) : spec.series;
    return series.map(function (s, i) {
      var color = round ? spec.labels.map(function (_l, j) { return PALETTE[j % PALETTE.length]; }) : PALETTE[i % PALETTE.length];
      return {
        label: s.name,
        data: s.data.map(function (v) { return v === null ? null : Number(v); }),
        backgroundColor: color,
        borderColor: spec.kind === "line" ? color : undefined,
        fill: false,
        drillUrls: s.drill_urls || null
      };
    });
  }

  function draw(canvas) {
    var source = document.getElementById(canvas.getAttribute("data-chart-data"));
    if (!source || typeof window.Chart === "undefined") { return; }
    var spec = JSON.parse(source.textContent);
    var round = spec.kind === "pie" || spec.kind === "doughnut";
    var options = { responsive: true, maintainAspectRatio: false, legend: { display: round || spec.series.length > 1 } };
    if (!round) {
      options.scales = {
        xAxes: [{ stacked: !!spec.stacked, ticks: { beginAtZero: true } }],
        yAxes: [{ stacked: !!spec.stacked, ticks: { beginAtZero: true } }]
      };
    }
    var chart = new window.Chart(canvas.getContext("2d"), {
      type: TYPES[spec.kind] || "bar",
      data: { labels: spec.labels, datasets: datasets(spec) },
      options: options
    });
    canvas.addEventListener("click", function (event) {
      var hit = chart.getElementAtEvent(event)[0];
      if (!hit) { return; }
      var urls = chart.data.datasets[hit._datasetIndex].drillUrls;
      var url = urls && urls[hit._index];
      if (url) { window.location.assign(url); }
    });
    canvas.setAttribute("data-drawn", "1");
  }

  function init() {
    // Chart.js 2.9 would inject a <style> element, which the CSP (style-src 'self') refuses: its CSS is linked
    // from the page instead (chartjs/static/css/Chart.min.css).
    if (window.Chart && window.Chart.platform) { window.Chart.platform.disableCSSInjection = true; }
    var canvases = document.querySelectorAll("canvas[data-chart-data]");
    for (var i = 0; i < canvases.length; i++) { draw(canvases[i]); }
  }

  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", init); } else { init(); }
})();
