/* The entity profile's relationship graph (ECharts).  Data comes from
   /api/records/entities/<id>/graph one ring and one page at a time: a click on a node
   loads that node's ring, a double click opens its page, "more" loads the next page of
   the centre's relations.  Every request is a purpose-audited read, like the page.
   Loaded as a static file: the CSP allows no inline scripts. */
(function () {
  "use strict";

  var el = document.getElementById("entity-graph");
  if (!el || typeof window.echarts === "undefined") {
    return;
  }
  var text = JSON.parse(document.getElementById("graph-text").textContent);
  var status = document.getElementById("graph-status");
  var more = document.getElementById("graph-more");
  var centre = el.dataset.entityId;
  var graphUrl = el.dataset.graphUrl; // for the centre; other ids are swapped in
  var entityUrl = el.dataset.entityUrl;
  var kinds = ["person", "phone", "vehicle", "organization", "account", "place"];
  var CAP = 50;

  var nodes = new Map();
  var links = new Map();
  var nextPage = new Map(); // entity id -> next page to load, absent when all loaded
  var totals = new Map();
  var loaded = new Map(); // entity id -> relations of it loaded so far
  var chart = window.echarts.init(el);

  function urlFor(template, id) {
    return template.replace("/" + centre + "/", "/" + id + "/");
  }

  function render() {
    chart.setOption({
      tooltip: {},
      legend: [{ data: kinds.map(function (k) { return text.kinds[k]; }), bottom: 0 }],
      series: [{
        type: "graph",
        layout: "force",
        roam: true,
        draggable: true,
        force: { repulsion: 220, edgeLength: 90 },
        label: { show: true, position: "right" },
        edgeLabel: { show: true, formatter: "{c}", fontSize: 10 },
        categories: kinds.map(function (k) { return { name: text.kinds[k] }; }),
        data: Array.from(nodes.values()).map(function (n) {
          return {
            id: n.id, name: n.name, category: Math.max(kinds.indexOf(n.kind), 0),
            symbolSize: n.centre ? 46 : 28, itemStyle: n.visible ? undefined : { opacity: 0.45 },
            value: text.kinds[n.kind] || n.kind
          };
        }),
        links: Array.from(links.values()).map(function (l) {
          return { source: l.source, target: l.target, value: l.label };
        })
      }]
    }, true);
    status.textContent = text.status.replace("{shown}", String(loaded.get(centre) || 0))
      .replace("{total}", String(totals.get(centre) || 0));
    more.hidden = !nextPage.has(centre);
  }

  function load(id) {
    var page = nextPage.has(id) ? nextPage.get(id) : 0;
    var url = urlFor(graphUrl, id) + "?page=" + page + "&cap=" + CAP;
    return fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) {
          throw new Error(String(response.status));
        }
        return response.json();
      })
      .then(function (data) {
        data.nodes.forEach(function (n) {
          var known = nodes.get(n.id);
          if (!known || n.centre) {
            nodes.set(n.id, Object.assign({}, n, { centre: n.id === centre }));
          }
        });
        data.links.forEach(function (l) {
          var key = l.source + ">" + l.target;
          var known = links.get(key);
          if (known) {
            l.kinds.forEach(function (k) { if (known.kinds.indexOf(k) < 0) { known.kinds.push(k); } });
            known.label = known.label.split("、").concat(l.label.split("、")).filter(function (v, i, a) {
              return a.indexOf(v) === i;
            }).join("、");
          } else {
            links.set(key, l);
          }
        });
        totals.set(String(data.centre), data.total);
        loaded.set(String(data.centre), data.page * data.cap + data.count);
        if (data.has_more) {
          nextPage.set(String(data.centre), data.page + 1);
        } else {
          nextPage.delete(String(data.centre));
        }
        render();
      })
      .catch(function (error) {
        status.textContent = text.error.replace("{status}", error.message);
      });
  }

  var expanded = new Set([centre]);
  chart.on("click", function (params) {
    if (params.dataType !== "node") {
      return;
    }
    var node = nodes.get(params.data.id);
    if (!node || !node.visible || expanded.has(node.id)) {
      return;
    }
    expanded.add(node.id);
    load(node.id);
  });
  chart.on("dblclick", function (params) {
    if (params.dataType === "node" && nodes.get(params.data.id) && nodes.get(params.data.id).visible) {
      window.location.assign(urlFor(entityUrl, params.data.id));
    }
  });
  more.addEventListener("click", function () { load(centre); });
  window.addEventListener("resize", function () { chart.resize(); });
  load(centre);
}());
