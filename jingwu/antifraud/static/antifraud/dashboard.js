/* The centre dashboard's charts (ECharts). Data is the JSON block the page carries; loaded
   as a static file: the CSP allows no inline script. The tables below the charts carry the
   same figures for screen readers and printing. */
(function () {
  "use strict";
  var source = document.getElementById("dashboard-data");
  if (!source || typeof window.echarts === "undefined") {
    return;
  }
  var d = JSON.parse(source.textContent);
  var L = d.labels;
  var charts = [];

  function draw(id, option) {
    var el = document.getElementById(id);
    if (!el) {
      return;
    }
    var chart = window.echarts.init(el, null, { renderer: "canvas" });
    chart.setOption(option);
    charts.push(chart);
  }

  draw("chart-money", {
    tooltip: { trigger: "axis" },
    legend: { data: [L.reports, L.loss, L.stopped, L.frozen, L.returned] },
    xAxis: { type: "category", data: d.days },
    yAxis: [{ type: "value", name: L.reports, minInterval: 1 }, { type: "value", name: "¥" }],
    series: [
      { name: L.reports, type: "bar", data: d.reports },
      { name: L.loss, type: "line", yAxisIndex: 1, data: d.loss },
      { name: L.stopped, type: "line", yAxisIndex: 1, data: d.stopped },
      { name: L.frozen, type: "line", yAxisIndex: 1, data: d.frozen },
      { name: L.returned, type: "line", yAxisIndex: 1, data: d.returned }
    ]
  });
  draw("chart-minutes", {
    tooltip: { trigger: "axis" },
    legend: { data: [L.p50, L.p90] },
    xAxis: { type: "category", data: d.days },
    yAxis: { type: "value" },
    series: [
      { name: L.p50, type: "line", connectNulls: true, data: d.p50 },
      { name: L.p90, type: "line", connectNulls: true, data: d.p90 }
    ]
  });
  var outcomeSeries = Object.keys(d.outcomes).map(function (name) {
    return { name: name, type: "bar", stack: "w", data: d.outcomes[name] };
  });
  outcomeSeries.push({ name: L.open, type: "bar", stack: "w", data: d.open });
  draw("chart-warnings", {
    tooltip: { trigger: "axis" },
    legend: { data: Object.keys(d.outcomes).concat([L.open]) },
    xAxis: { type: "category", data: d.levels },
    yAxis: { type: "value", minInterval: 1 },
    series: outcomeSeries
  });
  draw("chart-cities", {
    tooltip: { trigger: "axis" },
    legend: { data: [L.loss, L.stopped] },
    xAxis: { type: "category", data: d.cities },
    yAxis: { type: "value", name: "¥" },
    series: [
      { name: L.loss, type: "bar", data: d.city_loss },
      { name: L.stopped, type: "bar", data: d.city_stopped }
    ]
  });
  window.addEventListener("resize", function () {
    charts.forEach(function (c) { c.resize(); });
  });
})();
