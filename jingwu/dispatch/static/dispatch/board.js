/* The command centre board: ticking timers coloured against their targets, the map of grids
   and units (ECharts, no tile server: the grid polygons are the map), and small htmx glue.
   A static file because the CSP allows no inline script; data comes from data-attributes,
   a json_script block and two JSON endpoints. */
(function () {
  "use strict";

  var WARN_SHARE = 0.75;

  function pad(n) { return n < 10 ? "0" + n : String(n); }

  function clock(seconds) {
    var h = Math.floor(seconds / 3600), m = Math.floor((seconds % 3600) / 60), s = seconds % 60;
    return (h ? h + ":" + pad(m) : String(m)) + ":" + pad(s);
  }

  function tick() {
    var now = Date.now();
    document.querySelectorAll(".timer[data-since]").forEach(function (el) {
      var since = Date.parse(el.dataset.since);
      if (isNaN(since)) { return; }
      var elapsed = Math.max(0, Math.floor((now - since) / 1000));
      var time = el.querySelector("time");
      if (time) { time.textContent = clock(elapsed); }
      var target = Number(el.dataset.target || 0);
      if (target > 0) {
        var state = elapsed > target ? "late" : elapsed >= WARN_SHARE * target ? "warn" : "ok";
        el.classList.remove("timer-ok", "timer-warn", "timer-late");
        el.classList.add("timer-" + state);
      }
    });
  }
  tick();
  window.setInterval(tick, 1000);

  document.body.addEventListener("htmx:afterSwap", tick);
  // Refusals (bad input 400, a unit taken a moment ago 409) carry a panel or a message to show.
  document.body.addEventListener("htmx:beforeSwap", function (event) {
    var status = event.detail.xhr.status;
    if (status === 400 || status === 409) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });
  document.body.addEventListener("htmx:afterRequest", function (event) {
    var form = event.detail.elt;
    if (form && form.id === "board-intake" && event.detail.successful) {
      form.reset();
    }
  });

  var el = document.getElementById("board-map");
  if (!el || typeof window.echarts === "undefined") { return; }
  var text = JSON.parse(document.getElementById("board-map-text").textContent);
  var colours = { available: "#1e6b34", dispatched: "#8a5300", en_route: "#b06000", on_scene: "#b3261e",
                  cleared: "#4a5565", out_of_service: "#9aa3ae" };
  var chart = window.echarts.init(el);
  var refresh = Number(el.dataset.refresh || 5) * 1000;

  function positions() {
    fetch(el.dataset.positionsUrl, { credentials: "same-origin" }).then(function (r) { return r.json(); })
      .then(function (data) {
        var byStatus = {};
        data.units.forEach(function (u) { (byStatus[u[2]] = byStatus[u[2]] || []).push(u); });
        var series = Object.keys(colours).map(function (status) {
          return { id: "u-" + status, name: text.units[status], type: "scatter", coordinateSystem: "geo",
                   symbolSize: 8, itemStyle: { color: colours[status] },
                   data: (byStatus[status] || []).map(function (u) { return { name: u[3], value: [u[0], u[1]] }; }) };
        });
        series.push({ id: "incidents", name: text.incident, type: "effectScatter", coordinateSystem: "geo",
                      symbol: "diamond", symbolSize: 12, itemStyle: { color: "#0b3d91" },
                      data: data.incidents.map(function (i) { return { name: i[3], value: [i[0], i[1]], id: i[4] }; }) });
        chart.setOption({ series: series });
      })
      .catch(function () { /* the next poll tries again */ });
  }

  fetch(el.dataset.gridsUrl, { credentials: "same-origin" }).then(function (r) { return r.json(); })
    .then(function (geojson) {
      window.echarts.registerMap("jingwu-grids", geojson);
      chart.setOption({
        tooltip: { renderMode: "richText", formatter: "{b}" },
        legend: { bottom: 0, type: "scroll" },
        geo: { map: "jingwu-grids", roam: true, itemStyle: { areaColor: "#e8effa", borderColor: "#7f93b5" },
               emphasis: { itemStyle: { areaColor: "#cfdcf2" }, label: { show: false } } },
        series: []
      });
      positions();
      window.setInterval(positions, refresh);
      document.body.addEventListener("board-refresh", positions);  // after a call or a dispatch
    });

  // A click on an incident on the map opens it in the panel, as its row's button does.
  chart.on("click", function (params) {
    if (params.seriesId === "incidents" && params.data && params.data.id && window.htmx) {
      window.htmx.ajax("GET", el.dataset.panelUrl.replace("/0/", "/" + params.data.id + "/"), "#board-panel");
    }
  });
})();
