// cnncost's page: lays out, formats, sorts, filters and folds what the report computed.
// No counting happens here: every number comes from the embedded data.
(function () {
  "use strict";
  var DATA = JSON.parse(document.getElementById("cnncost-data").textContent);
  // the rows are the JSON report's; shapes are written as the CSV writes them
  function shapeText(v) { return Array.isArray(v) ? v.join("x") : String(v); }
  DATA.networks.forEach(function (n) {
    // the rows come as columns and values (no key repeated per row): made objects again here
    n.rows = n.row_values.map(function (v) {
      var r = {};
      n.row_fields.forEach(function (f, i) { r[f] = v[i]; });
      return r;
    });
    delete n.row_values;
    n.rows.forEach(function (r) {
      r.output = shapeText(r.output_shape);
      r.rf = r.rf_global ? "global" : shapeText(r.receptive_field);
      r.activation_bytes = r.bytes_written;
      if (n.has_seconds) r.seconds = n.seconds[r.name];
    });
  });
  function cellText(r, c) {
    if (c === "receptive_field") return r.rf;
    if (r.rf_global && (c === "rf_stride" || c === "rf_start")) return "";
    return shapeText(r[c]);
  }
  var SVGNS = "http://www.w3.org/2000/svg";

  function fmt(n) { return Number(n).toLocaleString("en-US"); }
  // as render/report.py's si(): three significant digits, and the prefix the rounded figure
  // needs (999,999 is 1M, 1.1e15 is 1.1P; 100,000 is 100k, its zeros are digits)
  var SI_PREFIXES = [[1e24, "Y"], [1e21, "Z"], [1e18, "E"], [1e15, "P"], [1e12, "T"], [1e9, "G"], [1e6, "M"],
                     [1e3, "k"]];
  function si(n) {
    for (var i = 0; i < SI_PREFIXES.length; i++) {
      if (Math.abs(n) >= SI_PREFIXES[i][0]) {
        var v = Number((n / SI_PREFIXES[i][0]).toPrecision(3));
        if (Math.abs(v) < 1000) return String(v) + SI_PREFIXES[i][1];
        return i ? String(Number((n / SI_PREFIXES[i - 1][0]).toPrecision(3))) + SI_PREFIXES[i - 1][1]
                 : Number(n.toPrecision(3)).toExponential();
      }
    }
    return String(n);
  }
  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    for (var k in attrs || {}) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function sv(tag, attrs, text) {
    var e = document.createElementNS(SVGNS, tag);
    for (var k in attrs || {}) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    return e;
  }

  // ---- header -------------------------------------------------------------------------
  function header() {
    var h = document.getElementById("header");
    if (DATA.page === "compare") {
      h.appendChild(el("h1", {}, "compare: " + DATA.labels.join(" · ")));
      DATA.networks.forEach(function (n, i) {
        h.appendChild(el("p", {"class": "source", "data-network": DATA.labels[i]},
          DATA.labels[i] + ": " + n.name + ", input " + n.input + ", batch " + n.batch +
          (n.source ? " — " + n.source : "")));
      });
      h.appendChild(el("p", {"class": "conventions"}, "conventions: " + DATA.networks[0].conventions));
      return;
    }
    var n = DATA.networks[0], t = n.totals;
    h.appendChild(el("h1", {}, n.name + "  (input " + n.input + ", batch " + n.batch + ")"));
    if (n.source) h.appendChild(el("p", {"class": "source"}, "source: " + n.source));
    var dl = el("dl");
    [["params", fmt(t.params) + " (" + si(t.params) + ")"],
     ["mults (MACs)", fmt(t.mults) + " (" + si(t.mults) + ")"],
     ["flops", fmt(t.flops) + " (" + si(t.flops) + ")"],
     ["activations", fmt(t.activations) + " elements"],
     ["peak live activations", si(t.peak_activation_bytes) + "B " + n.dtype],
     ["weights", si(t.param_bytes) + "B"], ["layers", fmt(t.layers)]].forEach(function (p) {
      var d = el("div", {"class": "pair"}); d.appendChild(el("dt", {}, p[0])); d.appendChild(el("dd", {}, p[1]));
      dl.appendChild(d);
    });
    h.appendChild(dl);
    h.appendChild(el("p", {"class": "conventions"}, "conventions: " + n.conventions));
  }

  // ---- tabs ---------------------------------------------------------------------------
  var views = {};
  function tabs() {
    var nav = document.getElementById("tabs");
    var names = DATA.page === "compare" ? [["totals", "Totals"], ["graph", "Graphs"], ["charts", "Charts"]]
                                        : [["graph", "Graph"], ["table", "Table"], ["charts", "Charts"]];
    names.forEach(function (p, i) {
      var b = el("button", {"role": "tab", "data-view": p[0], "aria-selected": i === 0 ? "true" : "false"}, p[1]);
      b.addEventListener("click", function () { show(p[0]); });
      nav.appendChild(b);
      views[p[0]] = document.getElementById("view-" + p[0]);
    });
    show(names[0][0]);
  }
  function show(name) {
    for (var k in views) if (views[k]) views[k].hidden = k !== name;
    document.querySelectorAll("#tabs button").forEach(function (b) {
      b.setAttribute("aria-selected", b.getAttribute("data-view") === name ? "true" : "false");
    });
  }

  // ---- the graph ----------------------------------------------------------------------
  var tip = document.getElementById("tip");
  function tipAt(ev, title, lines) {
    tip.textContent = "";
    tip.appendChild(el("b", {}, title));
    lines.forEach(function (l) { tip.appendChild(l.pre ? el("pre", {}, l.pre) : el("div", {}, l)); });
    tip.hidden = false;
    var x = Math.min(ev.clientX + 14, window.innerWidth - tip.offsetWidth - 8);
    var y = Math.min(ev.clientY + 14, window.innerHeight - tip.offsetHeight - 8);
    tip.style.left = x + "px"; tip.style.top = y + "px";
  }

  function GraphView(container, net) {
    this.net = net;
    this.box = container;
    this.rows = {};
    var self = this;
    net.rows.forEach(function (r) { self.rows[r.name] = r; });
    this.blocks = {};                      // block path -> true
    net.rows.forEach(function (r) {
      var parts = r.name.split(".");
      for (var k = 1; k < parts.length; k++) self.blocks[parts.slice(0, k).join(".")] = true;
    });
    this.expanded = {};
    if (net.rows.length <= 60) for (var b in this.blocks) this.expanded[b] = true;
    this.selected = null;
    this.metric = "mults";
  }
  GraphView.prototype.rep = function (name) {
    // the visible node of a layer: its outermost folded block, else itself
    var parts = name.split(".");
    for (var k = 1; k <= parts.length; k++) {
      var p = parts.slice(0, k).join(".");
      if (this.blocks[p] && !this.expanded[p]) return "block:" + p;
    }
    return "layer:" + name;
  };
  GraphView.prototype.value = function (id) {
    var m = this.metric, path = id.slice(id.indexOf(":") + 1);
    var v = id.indexOf("block:") === 0 ? this.net.block_sums[path][m] : this.rows[path][m];
    return v || 0;
  };
  GraphView.prototype.visible = function () {
    var self = this, order = ["input"], seen = {"input": true}, edges = [], ekeys = {};
    this.net.rows.forEach(function (r) {
      var to = self.rep(r.name);
      if (!seen[to]) { seen[to] = true; order.push(to); }
      r.inputs.forEach(function (i) {
        var from = i === "input" ? "input" : self.rep(i);
        if (from === to || ekeys[from + ">" + to]) return;
        ekeys[from + ">" + to] = true;
        edges.push({from: from, to: to, label: i === "input" ? self.net.input : self.rows[i].output});
      });
    });
    return {order: order, edges: edges};
  };
  GraphView.prototype.layout = function (vis) {
    var W = {}, rank = {}, preds = {}, self = this, max = 0;
    vis.order.forEach(function (id) { if (id !== "input") max = Math.max(max, self.value(id)); });
    vis.order.forEach(function (id) {
      var t = id === "input" || !max ? 0 : Math.sqrt(self.value(id) / max);
      W[id] = 130 + Math.round(110 * t);
      preds[id] = [];
    });
    vis.edges.forEach(function (e) { preds[e.to].push(e.from); });
    vis.order.forEach(function (id) {
      rank[id] = preds[id].reduce(function (a, p) { return Math.max(a, rank[p] + 1); }, 0);
    });
    // long edges pass through one point per rank they cross (Sugiyama's dummy nodes)
    var layers = [], pos = {}, chains = [];
    function put(id, r) { (layers[r] = layers[r] || []).push(id); }
    vis.order.forEach(function (id) { put(id, rank[id]); });
    vis.edges.forEach(function (e, k) {
      var chain = [e.from];
      for (var r = rank[e.from] + 1; r < rank[e.to]; r++) {
        var d = "d" + k + "_" + r; W[d] = 8; preds[d] = [chain[chain.length - 1]]; rank[d] = r; put(d, r); chain.push(d);
      }
      chain.push(e.to); chains.push(chain);
    });
    var up = {}, down = {};
    chains.forEach(function (c) {
      for (var i = 1; i < c.length; i++) {
        (up[c[i]] = up[c[i]] || []).push(c[i - 1]); (down[c[i - 1]] = down[c[i - 1]] || []).push(c[i]);
      }
    });
    function index() { layers.forEach(function (l) { l.forEach(function (id, i) { pos[id] = i; }); }); }
    index();
    for (var sweep = 0; sweep < 4; sweep++) {          // barycentre ordering, down then up
      var goingDown = sweep % 2 === 0, nb = goingDown ? up : down;
      var seq = goingDown ? layers.slice(1) : layers.slice(0, -1).reverse();
      seq.forEach(function (l) {
        var bc = {};
        l.forEach(function (id) {
          var ns = nb[id] || [];
          bc[id] = ns.length ? ns.reduce(function (a, n) { return a + pos[n]; }, 0) / ns.length : pos[id];
        });
        l.sort(function (a, b) { return bc[a] - bc[b] || pos[a] - pos[b]; });
        l.forEach(function (id, i) { pos[id] = i; });
      });
    }
    var X = {}, GAP = 26;
    layers.forEach(function (l) {                       // pack, then pull towards the parents
      var x = 0;
      l.forEach(function (id) { X[id] = x + W[id] / 2; x += W[id] + GAP; });
    });
    for (var pass = 0; pass < 3; pass++) {
      layers.forEach(function (l) {
        var want = l.map(function (id) {
          var ns = (up[id] || []).concat(pass % 2 ? (down[id] || []) : []);
          return ns.length ? ns.reduce(function (a, n) { return a + X[n]; }, 0) / ns.length : X[id];
        });
        var prev = -Infinity;
        l.forEach(function (id, i) {
          var x = Math.max(want[i], prev === -Infinity ? -Infinity : prev);
          X[id] = x; prev = x + W[id] / 2 + GAP + (i + 1 < l.length ? W[l[i + 1]] / 2 : 0);
        });
      });
    }
    var minX = Infinity, maxX = -Infinity;
    for (var id in X) { minX = Math.min(minX, X[id] - W[id] / 2); maxX = Math.max(maxX, X[id] + W[id] / 2); }
    for (id in X) X[id] += 20 - minX;
    return {X: X, W: W, rank: rank, chains: chains, width: maxX - minX + 40, height: layers.length * 74 + 20};
  };
  GraphView.prototype.color = function (id, max) {
    if (id === "input" || !max) return "hsl(210, 20%, 88%)";
    var t = Math.sqrt(this.value(id) / max);
    return "hsl(" + Math.round(205 - 205 * t) + ", 75%, " + Math.round(86 - 30 * t) + "%)";
  };
  GraphView.prototype.render = function () {
    tip.hidden = true;                   // the node under the pointer is about to be replaced
    var self = this, vis = this.visible(), L = this.layout(vis), H = 40;
    var svg = sv("svg", {width: L.width, height: L.height, "class": "dag", role: "img",
                         "aria-label": "layer graph of " + this.net.name});
    var Y = function (id) { return 14 + L.rank[id] * 74; };
    var max = 0;
    vis.order.forEach(function (id) { if (id !== "input") max = Math.max(max, self.value(id)); });
    // frames around unfolded blocks
    var labels = [];
    Object.keys(this.expanded).sort().forEach(function (b) {
      if (!self.expanded[b] || !self.blocks[b]) return;
      var ids = vis.order.filter(function (id) {
        var p = id.slice(id.indexOf(":") + 1); return id !== "input" && p.indexOf(b + ".") === 0;
      });
      if (!ids.length) return;
      var x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
      ids.forEach(function (id) {
        x0 = Math.min(x0, L.X[id] - L.W[id] / 2); x1 = Math.max(x1, L.X[id] + L.W[id] / 2);
        y0 = Math.min(y0, Y(id)); y1 = Math.max(y1, Y(id) + H);
      });
      var depth = b.split(".").length;
      svg.appendChild(sv("rect", {"class": "frame", x: x0 - 10 + depth, y: y0 - 13, width: x1 - x0 + 20 - 2 * depth,
                                  height: y1 - y0 + 18, rx: 6, opacity: 0.55}));
      var lab = sv("text", {"class": "framelabel", x: x0 - 6 + depth, y: y0 - 3, "data-fold": b, tabindex: "0",
                            role: "button", "aria-label": "fold " + b}, "▾ " + b);
      function fold() { self.expanded[b] = false; self.render(); }
      lab.addEventListener("click", fold);
      lab.addEventListener("keydown", function (ev) { if (ev.key === "Enter") fold(); });
      labels.push(lab);                  // drawn last, over the edges
    });
    L.chains.forEach(function (c, k) {
      var pts = c.map(function (id, i) {
        return [L.X[id], i === 0 ? Y(id) + H : (i === c.length - 1 ? Y(id) : Y(id) + H / 2)];
      });
      var d = "M" + pts[0][0] + "," + pts[0][1];
      for (var i = 1; i < pts.length; i++) {
        var my = (pts[i - 1][1] + pts[i][1]) / 2;
        d += " C" + pts[i - 1][0] + "," + my + " " + pts[i][0] + "," + my + " " + pts[i][0] + "," + pts[i][1];
      }
      svg.appendChild(sv("path", {"class": "edge", d: d, "marker-end": ""}));
      var e = vis.edges[k];
      var mid = pts.length > 2 ? pts[1] : [(pts[0][0] + pts[1][0]) / 2, (pts[0][1] + pts[1][1]) / 2];
      svg.appendChild(sv("text", {"class": "elabel", x: mid[0] + 4, y: mid[1] + 3}, e.label));
    });
    vis.order.forEach(function (id) {
      var isBlock = id.indexOf("block:") === 0, path = id === "input" ? "input" : id.slice(id.indexOf(":") + 1);
      var g = sv("g", {"class": "node" + (isBlock ? " block" : "") + (self.selected === path ? " selected" : ""),
                       "data-layer": path, tabindex: "0", transform: "translate(" + (L.X[id] - L.W[id] / 2) + "," + Y(id) + ")",
                       role: "button", "aria-label": (isBlock ? "block " : "layer ") + path});
      g.appendChild(sv("rect", {width: L.W[id], height: H, fill: self.color(id, max)}));
      var title = isBlock ? "▸ " + path : path, sub;
      if (id === "input") sub = self.net.input;
      else if (isBlock) { var s = self.net.block_sums[path]; sub = s.layers + " layers · " + si(s[self.metric] || 0); }
      else { var r = self.rows[path]; sub = r.kind + " · " + r.output + (r[self.metric] ? " · " + si(r[self.metric]) : ""); }
      var maxc = Math.floor((L.W[id] - 10) / 6.1);
      g.appendChild(sv("text", {x: 6, y: 16, fill: "#111"}, title.length > maxc ? title.slice(0, maxc - 1) + "…" : title));
      g.appendChild(sv("text", {x: 6, y: 31, fill: "#333"}, sub.length > maxc ? sub.slice(0, maxc - 1) + "…" : sub));
      function act() {
        if (id === "input") return;
        if (isBlock) { self.expanded[path] = true; self.render(); focus(self.box, path); }
        else { selectLayer(self, path, false); }
      }
      g.addEventListener("click", act);
      g.addEventListener("keydown", function (ev) { if (ev.key === "Enter") act(); });
      g.addEventListener("mousemove", function (ev) { self.tip(ev, id, path, isBlock); });
      g.addEventListener("mouseleave", function () { tip.hidden = true; });
      svg.appendChild(g);
    });
    labels.forEach(function (l) { svg.appendChild(l); });
    var old = this.box.querySelector("svg.dag");
    if (old) this.box.replaceChild(svg, old); else this.box.appendChild(svg);
  };
  GraphView.prototype.tip = function (ev, id, path, isBlock) {
    if (id === "input") { tipAt(ev, "input", [this.net.input]); return; }
    var v = isBlock ? this.net.block_sums[path] : this.rows[path], lines = [];
    if (!isBlock) lines.push(v.kind + ", output " + v.output + (v.mult_class ? ", " + v.mult_class : ""));
    else lines.push(v.layers + " layers (click to unfold)");
    lines.push("params " + fmt(v.params) + " · mults " + fmt(v.mults) + " · flops " + fmt(v.flops));
    lines.push("activation memory " + si(v.activation_bytes) + "B" + (v.seconds !== undefined ? " · roofline " +
               (v.seconds * 1000).toPrecision(3) + " ms" : "") + (!isBlock ? " · receptive field " + v.rf : ""));
    var f = isBlock ? undefined : this.net.formula_of[path];
    if (f !== undefined) lines.push({pre: this.net.formula_texts[f].join("\n")});
    tipAt(ev, path, lines);
  };
  function focus(box, path) {
    var n = box.querySelector('[data-layer="' + CSS.escape(path) + '"]');
    if (n) { n.focus({preventScroll: true}); n.scrollIntoView({block: "nearest", inline: "nearest"}); }
  }

  // ---- selection, both ways ---------------------------------------------------------------
  var graphs = [];
  function selectLayer(view, path, fromTable) {
    view.selected = path;
    var parts = path.split("."), changed = false;
    for (var k = 1; k <= parts.length; k++) {
      var p = parts.slice(0, k).join(".");
      if (view.blocks[p] && !view.expanded[p] && p !== path) { view.expanded[p] = true; changed = true; }
    }
    view.render();
    document.querySelectorAll("tr.selected").forEach(function (r) { r.classList.remove("selected"); });
    var row = document.querySelector('tr[data-row="' + CSS.escape(path) + '"]');
    if (row) row.classList.add("selected");
    if (fromTable) { show("graph"); focus(view.box, path); }
    return changed;
  }

  function graphsView() {
    var box = document.getElementById("graphs"), metric = document.getElementById("metric");
    var metrics = [["mults", "MACs"], ["params", "params"], ["flops", "FLOPs"], ["activation_bytes", "activation memory"]];
    if (DATA.networks.some(function (n) { return n.has_seconds; })) metrics.push(["seconds", "roofline time"]);
    metrics.forEach(function (m) { metric.appendChild(el("option", {value: m[0]}, m[1])); });
    DATA.networks.forEach(function (net, i) {
      var c = el("div", {"class": "graph", "data-network": DATA.page === "compare" ? DATA.labels[i] : net.name});
      if (DATA.page === "compare") c.appendChild(el("h2", {}, DATA.labels[i]));
      box.appendChild(c);
      var v = new GraphView(c, net);
      graphs.push(v);
      v.render();
    });
    metric.addEventListener("change", function () {
      graphs.forEach(function (g) { g.metric = metric.value; g.render(); });
    });
    document.getElementById("expand-all").addEventListener("click", function () {
      graphs.forEach(function (g) { for (var b in g.blocks) g.expanded[b] = true; g.render(); });
    });
    document.getElementById("fold-all").addEventListener("click", function () {
      graphs.forEach(function (g) { g.expanded = {}; g.render(); });
    });
  }

  // ---- the table ------------------------------------------------------------------------
  function number(v) {
    return typeof v === "number" && !Number.isInteger(v) ? v.toPrecision(3) : fmt(v);
  }
  function buildTable(table, net) {
    // the CSV's columns and rows; numbers keep their exact value in data-v for sorting
    var text = {}, head = el("tr");
    net.text_columns.forEach(function (c) { text[c] = true; });
    net.columns.forEach(function (c) {
      head.appendChild(el("th", {"data-sort": c, tabindex: "0", "class": text[c] ? "" : "num"}, net.column_labels[c]));
    });
    table.tHead.appendChild(head);
    var frag = document.createDocumentFragment();
    net.rows.forEach(function (r) {
      var tr = el("tr", {"data-row": r.name, "data-kind": r.kind, tabindex: "0"});
      net.columns.forEach(function (c) {
        var td = text[c] ? el("td", {}, cellText(r, c)) : el("td", {"class": "num", "data-v": String(r[c])}, number(r[c]));
        tr.appendChild(td);
      });
      frag.appendChild(tr);
    });
    table.tBodies[0].appendChild(frag);
  }
  function tableView() {
    var table = document.querySelector("table.layers");
    if (!table) return;
    buildTable(table, DATA.networks[0]);
    var body = table.tBodies[0];
    table.querySelectorAll("th[data-sort]").forEach(function (th, col) {
      function sort() {
        var numeric = th.classList.contains("num");
        var desc = th.getAttribute("aria-sort") !== "descending";
        table.querySelectorAll("th[data-sort]").forEach(function (o) { o.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", desc ? "descending" : "ascending");
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (a, b) {
          var x = a.cells[col], y = b.cells[col], r;
          if (numeric) r = Number(x.getAttribute("data-v")) - Number(y.getAttribute("data-v"));
          else r = x.textContent.localeCompare(y.textContent);
          return desc ? -r : r;
        });
        var frag = document.createDocumentFragment();
        rows.forEach(function (r) { frag.appendChild(r); });
        body.appendChild(frag);
      }
      th.addEventListener("click", sort);
      th.addEventListener("keydown", function (ev) { if (ev.key === "Enter") sort(); });
    });
    function pick(tr) { if (tr && graphs[0]) selectLayer(graphs[0], tr.getAttribute("data-row"), true); }
    body.addEventListener("click", function (ev) { pick(ev.target.closest("tr")); });
    body.addEventListener("keydown", function (ev) { if (ev.key === "Enter") pick(ev.target.closest("tr")); });
    var filter = document.getElementById("filter");
    filter.addEventListener("input", function () {
      var q = filter.value.trim().toLowerCase();
      Array.prototype.forEach.call(body.rows, function (r) {
        r.hidden = q !== "" && r.getAttribute("data-row").toLowerCase().indexOf(q) < 0 &&
                   r.getAttribute("data-kind").toLowerCase().indexOf(q) < 0;
      });
    });
  }

  // ---- charts -----------------------------------------------------------------------------
  function bars(title, items, opts) {
    opts = opts || {};
    var box = el("div", {"class": "chart", "data-chart": opts.id || title}), rowH = 18;
    box.appendChild(el("h3", {}, title));
    var labelW = 220, w = 600, max = Math.max.apply(null, items.map(function (i) { return i[1]; }).concat([1]));
    var svg = sv("svg", {width: labelW + w + 130, height: items.length * rowH + 6});
    items.forEach(function (it, k) {
      var y = k * rowH + 2, bw = Math.max(1, w * it[1] / max);
      svg.appendChild(sv("text", {x: labelW - 6, y: y + 12, "text-anchor": "end"}, it[0].length > 34 ? it[0].slice(0, 33) + "…" : it[0]));
      var r = sv("rect", {"class": it[2] ? "bar2" : "bar", x: labelW, y: y, width: bw, height: rowH - 4});
      r.appendChild(sv("title", {}, it[0] + ": " + fmt(it[1])));
      svg.appendChild(r);
      svg.appendChild(sv("text", {x: labelW + bw + 6, y: y + 12}, (opts.unit ? si(it[1]) + opts.unit : fmt(it[1]))));
    });
    box.appendChild(svg);
    return box;
  }
  function line(title, values, opts) {
    opts = opts || {};
    var box = el("div", {"class": "chart", "data-chart": opts.id || title});
    box.appendChild(el("h3", {}, title));
    var w = 760, h = 180, pad = 44, n = Math.max(1, values.length - 1);
    var max = Math.max.apply(null, values.concat([1]));
    var svg = sv("svg", {width: w + pad + 20, height: h + 36});
    svg.appendChild(sv("line", {"class": "axis", x1: pad, y1: h + 4, x2: pad + w, y2: h + 4}));
    svg.appendChild(sv("line", {"class": "axis", x1: pad, y1: 4, x2: pad, y2: h + 4}));
    var d = values.map(function (v, i) { return (i ? "L" : "M") + (pad + w * i / n) + "," + (4 + h - h * v / max); }).join(" ");
    svg.appendChild(sv("path", {"class": "line", d: d}));
    svg.appendChild(sv("text", {x: 2, y: 12}, si(max) + (opts.unit || "")));
    svg.appendChild(sv("text", {x: pad, y: h + 22}, "layer 1"));
    svg.appendChild(sv("text", {x: pad + w, y: h + 22, "text-anchor": "end"}, "layer " + values.length));
    if (opts.peak !== undefined) {
      var at = values.indexOf(opts.peak);
      if (at >= 0) {
        var px = pad + w * at / n, py = 4 + h - h * opts.peak / max;
        svg.appendChild(sv("circle", {"class": "peak", cx: px, cy: py, r: 4, "data-peak": opts.peak}));
        svg.appendChild(sv("text", {x: Math.min(px + 8, w), y: py + 4}, "peak " + si(opts.peak) + (opts.unit || "") +
                                   " at " + (opts.names ? opts.names[at] : "layer " + (at + 1))));
      }
    }
    box.appendChild(svg);
    return box;
  }
  var CLASSES = {standard: "standard k×k", pointwise: "pointwise 1×1", depthwise: "depthwise", grouped: "grouped",
                 dense: "dense"};
  function chartsView() {
    var box = document.getElementById("charts");
    if (DATA.page === "compare") {
      var stages = [];
      DATA.networks.forEach(function (n, i) {
        n.blocks.forEach(function (b) { stages.push([DATA.labels[i] + " · " + b.name, b.mults, i % 2]); });
      });
      box.appendChild(bars("MACs per stage, each network", stages, {id: "stages", unit: ""}));
      box.appendChild(bars("total MACs", DATA.networks.map(function (n, i) { return [DATA.labels[i], n.totals.mults, i % 2]; }),
                           {id: "totals"}));
      box.appendChild(bars("total params", DATA.networks.map(function (n, i) { return [DATA.labels[i], n.totals.params, i % 2]; }),
                           {id: "params"}));
      return;
    }
    var n = DATA.networks[0], names = n.rows.map(function (r) { return r.name; });
    box.appendChild(bars("MACs per block", n.blocks.map(function (b) { return [b.name, b.mults]; }), {id: "block-mults"}));
    box.appendChild(bars("params per block", n.blocks.map(function (b) { return [b.name, b.params]; }), {id: "block-params"}));
    box.appendChild(line("cumulative MACs along the network", n.cumulative_mults, {id: "cumulative"}));
    box.appendChild(line("live activation memory over the execution order (" + n.dtype + ")", n.live_bytes,
                         {id: "live", peak: n.peak_bytes, unit: "B", names: names}));
    box.appendChild(bars("MACs by multiplication class", Object.keys(n.mults_by_class).map(function (c) {
      return [CLASSES[c] || c, n.mults_by_class[c]];
    }), {id: "classes"}));
  }

  header();
  tabs();
  graphsView();
  tableView();
  chartsView();
  document.documentElement.setAttribute("data-ready", "true");
})();
