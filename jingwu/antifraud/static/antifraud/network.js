/* A fraud network's graph (ECharts, force layout). Data is the JSON block the page carries;
   loaded as a static file, drawn on a canvas: the CSP allows no inline script or style. */
(function () {
  "use strict";
  var el = document.getElementById("network-graph");
  var source = document.getElementById("network-data");
  if (!el || !source || typeof window.echarts === "undefined") {
    return;
  }
  var data = JSON.parse(source.textContent);
  var kinds = ["report", "signal", "account", "phone", "url", "app", "device", "ip"];
  var chart = window.echarts.init(el, null, { renderer: "canvas" });
  chart.setOption({
    tooltip: {},
    legend: [{ data: kinds }],
    series: [{
      type: "graph",
      layout: "force",
      roam: true,
      draggable: true,
      force: { repulsion: 120, edgeLength: 60 },
      categories: kinds.map(function (k) { return { name: k }; }),
      label: { show: true, position: "right", fontSize: 10 },
      data: data.nodes.map(function (n) {
        return { id: n.id, name: n.label, category: kinds.indexOf(n.kind), symbolSize: n.kind === "report" ? 18 : 10 };
      }),
      links: data.edges.map(function (e) { return { source: e.source, target: e.target }; })
    }]
  });
  window.addEventListener("resize", function () { chart.resize(); });
})();
