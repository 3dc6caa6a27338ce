/* The entity profile's relationship graph (ECharts).  Data comes from
   /api/records/entities/<id>/graph one ring and one page at a time: the centre's ring
   loads first; a click on a node (or "expand" in the list under the graph, for the
   keyboard) loads that node's ring; "more" loads the next page of a ring; a double
   click or "open" goes to a node's page.  Every request is a purpose-audited read, like
   the page.  Neighbours outside the jurisdiction come as anonymous nodes that cannot be
   expanded.  Loaded as a static file and drawn on a canvas (tooltips too): the CSP
   allows no inline scripts or styles. */
(function () {
  "use strict";

  var el = document.getElementById("entity-graph");
  if (!el || typeof window.echarts === "undefined") {
    return;
  }
  var text = JSON.parse(document.getElementById("graph-text").textContent);
  var status = document.getElementById("graph-status");
  var more = document.getElementById("graph-more");
  var list = document.getElementById("graph-nodes");
  var centre = el.dataset.entityId;
  var graphUrl = el.dataset.graphUrl; // for the centre; other ids are swapped in
  var entityUrl = el.dataset.entityUrl;
  var kinds = ["person", "phone", "vehicle", "organization", "account", "place"];
  var CAP = 50;

  var nodes = new Map(); // id -> node as the API gave it (centre: the page's entity)
  var links = new Map();
  var rings = new Map(); // id -> {shown, total, next (page to load, or null)}
  var pending = new Set();
  var items = new Map(); // id -> its <li> in the list
  var chart = window.echarts.init(el);

  function urlFor(template, id) {
    return template.replace("/" + centre + "/", "/" + id + "/");
  }

  function fill(template, values) {
    return template.replace(/\{(\w+)\}/g, function (whole, key) {
      return Object.prototype.hasOwnProperty.call(values, key) ? String(values[key]) : whole;
    });
  }

  function draw() {
    chart.setOption({
      // No entry animation: a node is where it is drawn from the first frame, so a click
      // (or a test) right after a ring loads hits it, and no one waits for motion.
      animation: false,
      tooltip: { renderMode: "richText" },
      legend: [{ data: kinds.map(function (k) { return text.kinds[k]; }), bottom: 0 }],
      series: [{
        id: "ring",
        type: "graph",
        layout: "force",
        roam: true,
        draggable: true,
        force: { repulsion: 220, edgeLength: 90, layoutAnimation: false },
        label: { show: true, position: "right" },
        edgeLabel: { show: true, formatter: "{c}", fontSize: 10 },
        categories: kinds.map(function (k) { return { name: text.kinds[k] }; }),
        data: Array.from(nodes.values()).map(function (n) {
          return {
            id: n.id, name: n.name, category: Math.max(kinds.indexOf(n.kind), 0),
            symbolSize: n.id === centre ? 46 : rings.has(n.id) ? 36 : 28,
            itemStyle: n.visible ? undefined : { opacity: 0.45 },
            value: text.kinds[n.kind] || n.kind
          };
        }),
        links: Array.from(links.values()).map(function (l) {
          return { source: l.source, target: l.target, value: l.label };
        })
      }]
    });
  }

  function button(label, action, id) {
    var b = document.createElement("button");
    b.type = "button";
    b.className = "secondary outline graph-action graph-" + action;
    b.textContent = label;
    b.dataset.action = action;
    b.dataset.id = id;
    return b;
  }

  // One <li> per node, made once and updated in place so keyboard focus stays put.
  function listItem(n) {
    var li = items.get(n.id);
    if (!li) {
      li = document.createElement("li");
      li.dataset.id = n.id;
      li.className = "graph-node graph-node-" + n.kind + (n.visible ? "" : " restricted");
      var name = document.createElement(n.visible && n.id !== centre ? "a" : "span");
      name.className = "graph-node-name";
      name.textContent = n.name;
      if (name.tagName === "A") {
        name.href = urlFor(entityUrl, n.id);
      }
      var kind = document.createElement("span");
      kind.className = "badge graph-node-kind";
      kind.textContent = n.id === centre ? text.centre : (text.kinds[n.kind] || n.kind);
      var state = document.createElement("span");
      state.className = "graph-node-state";
      state.tabIndex = -1;
      li.append(name, " ", kind, " ", state, " ");
      if (n.visible) {
        li.append(button(text.expand, "expand", n.id), " ", button(text.more, "more", n.id));
      }
      items.set(n.id, li);
      list.appendChild(li);
    }
    var ring = rings.get(n.id);
    var state = li.querySelector(".graph-node-state");
    state.textContent = !n.visible ? text.restricted
      : ring ? fill(text.count, { shown: ring.shown, total: ring.total }) : "";
    var expand = li.querySelector(".graph-expand");
    var next = li.querySelector(".graph-more");
    if (expand) {
      var hideExpand = Boolean(ring) || pending.has(n.id);
      if (hideExpand && document.activeElement === expand) {
        (ring && ring.next !== null ? next : state).focus();
      }
      expand.hidden = hideExpand;
      next.hidden = !ring || ring.next === null || pending.has(n.id);
      if (next.hidden && document.activeElement === next) {
        state.focus();
      }
    }
  }

  function render() {
    draw();
    nodes.forEach(listItem);
    var ring = rings.get(centre);
    if (ring) {
      more.hidden = ring.next === null;
    }
  }

  function load(id) {
    if (pending.has(id)) {
      return Promise.resolve();
    }
    var ring = rings.get(id);
    var page = ring ? ring.next : 0;
    if (page === null) {
      return Promise.resolve();
    }
    pending.add(id);
    if (nodes.has(id)) {
      listItem(nodes.get(id));
    }
    var url = urlFor(graphUrl, id) + "?page=" + page + "&cap=" + CAP;
    var before = nodes.size;
    return fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) {
          throw new Error(String(response.status));
        }
        return response.json();
      })
      .then(function (data) {
        var key = String(data.centre);
        data.nodes.forEach(function (n) {
          if (!nodes.has(n.id)) {
            nodes.set(n.id, n);
          }
        });
        data.links.forEach(function (l) {
          var linkKey = l.source + ">" + l.target;
          var known = links.get(linkKey);
          if (known) {
            known.label = known.label.split("、").concat(l.label.split("、")).filter(function (v, i, a) {
              return a.indexOf(v) === i;
            }).join("、");
          } else {
            links.set(linkKey, { source: l.source, target: l.target, label: l.label });
          }
        });
        var shown = data.page * data.cap + data.count;
        rings.set(key, { shown: shown, total: data.total, next: data.has_more ? data.page + 1 : null });
        pending.delete(id);
        render();
        if (key === centre) {
          status.textContent = fill(text.status, { shown: shown, total: data.total });
        } else {
          status.textContent = fill(text.expanded, {
            name: nodes.get(key).name, shown: shown, total: data.total, added: nodes.size - before
          });
        }
      })
      .catch(function (error) {
        pending.delete(id);
        render();
        status.textContent = fill(text.error, { status: error.message });
      });
  }

  function expandable(id) {
    var node = nodes.get(id);
    return Boolean(node && node.visible);
  }

  chart.on("click", function (params) {
    if (params.dataType === "node" && expandable(params.data.id) && !rings.has(params.data.id)) {
      load(params.data.id);
    }
  });
  chart.on("dblclick", function (params) {
    if (params.dataType === "node" && expandable(params.data.id) && params.data.id !== centre) {
      window.location.assign(urlFor(entityUrl, params.data.id));
    }
  });
  list.addEventListener("click", function (event) {
    var target = event.target.closest("button[data-action]");
    if (target && expandable(target.dataset.id)) {
      load(target.dataset.id);
    }
  });
  more.addEventListener("click", function () { load(centre); });
  window.addEventListener("resize", function () { chart.resize(); });
  load(centre);
}());
