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
     ["weights", si(t.param_bytes) + "B"], ["layers", fmt(t.layers)]].concat(roofline(n.roofline)).forEach(function (p) {
      var d = el("div", {"class": "pair", "data-total": p[2] || ""});
      d.appendChild(el("dt", {}, p[0])); d.appendChild(el("dd", {}, p[1]));
      dl.appendChild(d);
    });
    h.appendChild(dl);
    h.appendChild(el("p", {"class": "conventions"}, "conventions: " + n.conventions));
  }

  function roofline(r) {
    // what `report --profile` prints under its table: the estimate and its memory-bound share
    if (!r) return [];
    return [["estimated time (roofline, " + r.profile + ")", r.total_seconds ? (r.total_seconds * 1000).toFixed(2) + " ms"
                                                                               : "nothing to estimate", "roofline-time"],
            ["in memory-bound layers", Math.round(r.memory_share * 100) + "% of it", "memory-share"]];
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
    if (name === "graph") relayout();      // laid out while hidden, the graphs had no width to fill
  }
  function relayout() {
    graphs.forEach(function (g) { if (g.box.clientWidth && g.view().width !== g.laidOut) g.render(); });
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
    this.expanded = {};                  // opened to fit the view at its first render with a width
    this.opened = false;
    this.selected = null;
    this.metric = "mults";
  }
  function isInput(id) { return id.indexOf("input:") === 0; }
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
    // the network's inputs first ("input", or each of several by name), then what is visible
    var self = this, ins = this.net.inputs, order = [], seen = {}, edges = [], ekeys = {};
    Object.keys(ins).forEach(function (name) { order.push("input:" + name); seen["input:" + name] = true; });
    this.net.rows.forEach(function (r) {
      var to = self.rep(r.name);
      if (!seen[to]) { seen[to] = true; order.push(to); }
      r.inputs.forEach(function (i) {
        var from = i in ins ? "input:" + i : self.rep(i);
        if (from === to || ekeys[from + ">" + to]) return;
        ekeys[from + ">" + to] = true;
        edges.push({from: from, to: to, label: i in ins ? ins[i] : self.rows[i].output});
      });
    });
    return {order: order, edges: edges};
  };
  // the texts of a node, each line with its font: a layer says its kernel, stride and
  // channels ("3×3/2, 64") as Netron does, and its output shape in full
  function windowText(w) {
    if (!w) return "";
    function pair(v) { return v[0] === v[1] ? String(v[0]) : v.join("×"); }
    var parts = [];
    if (w.kernel) {
      var k = w.kernel.join("×");
      if (w.stride && (w.stride[0] !== 1 || w.stride[1] !== 1)) k += "/" + pair(w.stride);
      if (w.dilation && (w.dilation[0] !== 1 || w.dilation[1] !== 1)) k += " d" + pair(w.dilation);
      parts.push(k);
    }
    if (w.channels !== undefined) parts.push(String(w.channels));
    if (w.groups !== undefined && w.groups !== 1) parts.push("g" + w.groups);
    return parts.join(", ");
  }
  function windowWords(w) {
    if (!w) return "";
    function pair(v) { return v[0] === v[1] ? String(v[0]) : v.join("×"); }
    var parts = [];
    if (w.kernel) parts.push("kernel " + w.kernel.join("×"));
    if (w.stride) parts.push("stride " + pair(w.stride));
    if (w.padding !== undefined) parts.push("padding " + (typeof w.padding === "string" ? w.padding : w.padding.join(",")));
    if (w.dilation) parts.push("dilation " + pair(w.dilation));
    if (w.groups !== undefined) parts.push("groups " + fmt(w.groups));
    if (w.channels !== undefined) parts.push(fmt(w.channels) + " output channels");
    return parts.join(", ");
  }
  var FONT = "11px system-ui, -apple-system, \"Segoe UI\", sans-serif", BOLD = "600 " + FONT;
  var FRAME_FONT = "600 10px system-ui, -apple-system, \"Segoe UI\", sans-serif";
  var measure = document.createElement("canvas").getContext("2d");
  var widthOf = {};                        // font + text -> px: names and kinds repeat, setting a font is slow
  function textWidth(text, font) {
    var key = font + "\u0000" + text;
    if (!(key in widthOf)) {
      if (measure.font !== font) measure.font = font;
      widthOf[key] = measure.measureText(text).width;
    }
    return widthOf[key];
  }
  var NODE_H = 50, RANK_H = 84, PAD = 8;
  var METRICS = [["mults", "MACs"], ["params", "params"], ["flops", "FLOPs"], ["activation_bytes", "activation memory"]];
  function metricText(v, metric) {
    if (metric === "seconds") return (v * 1000).toPrecision(3) + " ms";
    if (metric === "activation_bytes") return si(v) + "B";
    return si(v) + " " + (metric === "mults" ? "MACs" : metric === "flops" ? "FLOPs" : metric);
  }

  GraphView.prototype.lines = function (id) {
    var isBlock = id.indexOf("block:") === 0, path = id.slice(id.indexOf(":") + 1);
    if (isInput(id)) return [path, this.net.inputs[path], ""];
    var shown = this.shortName(path);
    if (isBlock) {
      var s = this.net.block_sums[path];
      return ["▸ " + shown, s.layers + " layers", metricText(s[this.metric] || 0, this.metric)];
    }
    var r = this.rows[path], w = windowText(this.net.windows[path]);
    return [shown, r.kind + (w ? " " + w : ""), r.output + (r[this.metric] ? " · " + metricText(r[this.metric], this.metric) : "")];
  };
  GraphView.prototype.shortName = function (path) {
    // inside an unfolded block's frame, which names the block, a node shows the rest
    var parts = path.split("."), k = parts.length - 1;
    while (k > 0 && !this.expanded[parts.slice(0, k).join(".")]) k--;
    return k > 0 ? parts.slice(k).join(".") : path;
  };
  GraphView.prototype.widths = function (vis) {
    var W = {}, self = this, max = 0;
    vis.order.forEach(function (id) { if (!isInput(id)) max = Math.max(max, self.value(id)); });
    vis.order.forEach(function (id) {
      var t = isInput(id) || !max ? 0 : Math.sqrt(self.value(id) / max), ls = self.lines(id);
      var text = Math.max(textWidth(ls[0], BOLD), textWidth(ls[1], FONT), textWidth(ls[2], FONT));
      W[id] = Math.ceil(Math.max(text + 2 * PAD, 110 + 130 * t));   // the text whole, the size the metric's
    });
    return W;
  };
  GraphView.prototype.color = function (id, max) {
    if (isInput(id) || !max) return "hsl(210, 20%, 88%)";
    var t = Math.sqrt(this.value(id) / max);
    return "hsl(" + Math.round(205 - 205 * t) + ", 75%, " + Math.round(86 - 30 * t) + "%)";
  };
  GraphView.prototype.view = function () {
    // the room the columns may fill: the box's width, and the window's height below the box's
    // top (the box scrolls past 78% of the window)
    var width = this.box.clientWidth || this.box.parentNode.clientWidth || window.innerWidth - 40;
    var top = this.box.getBoundingClientRect().top + window.scrollY;
    var below = window.innerHeight - (this.box.clientWidth ? top : 300) - 24;
    return {width: width - 18, height: Math.max(300, Math.min(window.innerHeight * 0.78, below) - 60)};
  };
  GraphView.prototype.lay = function (view) {
    var vis = this.visible();
    return {vis: vis, L: cnncostLayout(vis, this.widths(vis), view, {H: NODE_H, rankHeight: RANK_H})};
  };
  GraphView.prototype.openToFit = function (view) {
    // a large network opens as deep as its blocks fit the view without scrolling (ResNet-50:
    // its sixteen bottlenecks across the width), and past a handful of nodes at least (a
    // detector in one `model` block); a small one (60 layers or fewer) all unfolded
    if (this.net.rows.length <= 60) { for (var b in this.blocks) this.expanded[b] = true; return; }
    for (var depth = 1, shown = 0; ; depth++) {
      var trial = {}, deeper = false;
      for (b in this.blocks) {
        if (b.split(".").length < depth) trial[b] = true;
        else if (b.split(".").length === depth) deeper = true;
      }
      var keep = this.expanded;
      this.expanded = trial;
      var laid = this.lay(view), fits = laid.L.fits;
      if (!fits && shown >= 8) { this.expanded = keep; return; }       // the level above fitted
      shown = laid.vis.order.length;
      if (!deeper || (!fits && shown >= 8)) return;
    }
  };
  GraphView.prototype.render = function () {
    tip.hidden = true;                   // the node under the pointer is about to be replaced
    var self = this, view = this.view();
    if (!this.opened && this.box.clientWidth) { this.opened = true; this.openToFit(view); }
    var laid = this.lay(view), vis = laid.vis, L = laid.L;
    this.laidOut = view.width;
    var svg = sv("svg", {width: L.width, height: L.height, "class": "dag", role: "img",
                         "data-columns": L.columns, "aria-label": "layer graph of " + this.net.name});
    var max = 0;
    vis.order.forEach(function (id) { if (!isInput(id)) max = Math.max(max, self.value(id)); });
    // frames around unfolded blocks, one per column the block runs through; a label names
    // the block within its parent's frame, after the labels already on its line
    var labels = [], taken = {}, members = {};       // block -> column -> its visible nodes, in one pass
    vis.order.forEach(function (id) {
      if (isInput(id)) return;
      var p = id.slice(id.indexOf(":") + 1);
      for (var k = p.indexOf("."); k >= 0; k = p.indexOf(".", k + 1)) {
        var b = p.slice(0, k);
        if (!self.expanded[b]) break;
        var m = members[b] = members[b] || {};
        (m[L.col[id]] = m[L.col[id]] || []).push(id);
      }
    });
    Object.keys(members).sort().forEach(function (b) {
      var depth = b.split(".").length;
      Object.keys(members[b]).forEach(function (c) {
        var x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
        members[b][c].forEach(function (id) {
          x0 = Math.min(x0, L.X[id] - L.W[id] / 2); x1 = Math.max(x1, L.X[id] + L.W[id] / 2);
          y0 = Math.min(y0, L.Y[id]); y1 = Math.max(y1, L.Y[id] + L.H);
        });
        svg.appendChild(sv("rect", {"class": "frame", x: x0 - 10 + depth, y: y0 - 13, width: x1 - x0 + 20 - 2 * depth,
                                    height: y1 - y0 + 18, rx: 6, opacity: 0.55}));
        var text = "▾ " + (depth > 1 ? b.slice(b.lastIndexOf(".") + 1) : b), line = c + ":" + y0;
        var lx = Math.max(x0 - 6 + depth, (taken[line] || -Infinity) + 6);
        taken[line] = lx + textWidth(text, FRAME_FONT);
        labels.push(sv("text", {"class": "framelabel", x: lx, y: y0 - 3, "data-fold": b, tabindex: "0",
                                role: "button", "aria-label": "fold " + b}, text));   // drawn last, over the edges
      });
    });
    L.paths.forEach(function (p, k) {
      svg.appendChild(sv("path", {"class": "edge", d: p.d}));
      svg.appendChild(sv("text", {"class": "elabel", x: p.label[0] + 4, y: p.label[1] + 3}, vis.edges[k].label));
    });
    vis.order.forEach(function (id) {
      var isBlock = id.indexOf("block:") === 0, path = id.slice(id.indexOf(":") + 1);
      var g = sv("g", {"class": "node" + (isBlock ? " block" : "") + (self.selected === path ? " selected" : ""),
                       "data-layer": path, "data-id": id, tabindex: "0", transform: "translate(" + (L.X[id] - L.W[id] / 2) + "," + L.Y[id] + ")",
                       role: "button", "aria-label": (isBlock ? "block " : "layer ") + path});
      g.appendChild(sv("rect", {width: L.W[id], height: L.H, fill: self.color(id, max)}));
      self.lines(id).forEach(function (text, i) {
        g.appendChild(sv("text", {x: PAD, y: 15 + 14 * i, fill: i ? "#333" : "#111", "class": i ? "" : "title"}, text));
      });
      svg.appendChild(g);
    });
    labels.forEach(function (l) { svg.appendChild(l); });
    this.listen(svg);
    var old = this.box.querySelector("svg.dag");
    if (old) this.box.replaceChild(svg, old); else this.box.appendChild(svg);
  };
  GraphView.prototype.listen = function (svg) {
    // one listener of each kind for the whole graph (one per node cost a large graph's drawing)
    var self = this;
    function act(target) {
      var fold = target.closest("[data-fold]"), g = target.closest("g.node");
      if (fold) { self.expanded[fold.getAttribute("data-fold")] = false; self.render(); return; }
      if (!g || isInput(g.getAttribute("data-id"))) return;
      var path = g.getAttribute("data-layer");
      if (g.classList.contains("block")) { self.expanded[path] = true; self.render(); focus(self.box, path); }
      else selectLayer(self, path, false);
    }
    svg.addEventListener("click", function (ev) { act(ev.target); });
    svg.addEventListener("keydown", function (ev) { if (ev.key === "Enter") act(ev.target); });
    svg.addEventListener("mousemove", function (ev) {
      var g = ev.target.closest("g.node");
      if (!g) { tip.hidden = true; return; }
      self.tip(ev, g.getAttribute("data-id"), g.getAttribute("data-layer"), g.classList.contains("block"));
    });
    svg.addEventListener("mouseleave", function () { tip.hidden = true; });
  };
  GraphView.prototype.tip = function (ev, id, path, isBlock) {
    if (isInput(id)) { tipAt(ev, path, [this.net.inputs[path]]); return; }
    var v = isBlock ? this.net.block_sums[path] : this.rows[path], lines = [];
    if (!isBlock) lines.push(v.kind + ", output " + v.output + (v.mult_class ? ", " + v.mult_class : ""));
    else lines.push(v.layers + " layers (click to unfold)");
    var w = isBlock ? "" : windowWords(this.net.windows[path]);
    if (w) lines.push(w);
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
    var metrics = METRICS.slice();
    if (DATA.networks.some(function (n) { return n.has_seconds; })) metrics.push(["seconds", "roofline time"]);
    metrics.forEach(function (m) { metric.appendChild(el("option", {value: m[0]}, m[1])); });
    if (DATA.page === "compare") box.classList.add("side-by-side");      // one column of the page each
    DATA.networks.forEach(function (net, i) {
      var c = el("div", {"class": "graph", "data-network": DATA.page === "compare" ? DATA.labels[i] : net.name});
      if (DATA.page === "compare") c.appendChild(el("h2", {}, DATA.labels[i]));
      box.appendChild(c);
      graphs.push(new GraphView(c, net));
    });
    graphs.forEach(function (g) { g.render(); });     // each box at its width once all are in
    var pending;
    window.addEventListener("resize", function () { clearTimeout(pending); pending = setTimeout(relayout, 150); });
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
  var charts = cnncostCharts({el: el, sv: sv, si: si, fmt: fmt}), bars = charts.bars, line = charts.line;
  var CLASSES = {standard: "standard k×k", pointwise: "pointwise 1×1", depthwise: "depthwise", grouped: "grouped",
                 dense: "dense"};
  function chartsView() {
    var box = document.getElementById("charts");
    if (DATA.page === "compare") {
      var stages = [];
      DATA.networks.forEach(function (n, i) {
        n.blocks.forEach(function (b) { stages.push([DATA.labels[i] + " · " + b.name, b.mults, i % 2]); });
      });
      box.appendChild(bars("MACs per stage, each network", stages, {id: "stages", none: "no MACs"}));
      box.appendChild(bars("total MACs", DATA.networks.map(function (n, i) { return [DATA.labels[i], n.totals.mults, i % 2]; }),
                           {id: "totals"}));
      box.appendChild(bars("total params", DATA.networks.map(function (n, i) { return [DATA.labels[i], n.totals.params, i % 2]; }),
                           {id: "params"}));
      return;
    }
    var n = DATA.networks[0], names = n.rows.map(function (r) { return r.name; });
    box.appendChild(bars("MACs per block", n.blocks.map(function (b) { return [b.name, b.mults]; }), {id: "block-mults", none: "no MACs"}));
    box.appendChild(bars("params per block", n.blocks.map(function (b) { return [b.name, b.params]; }), {id: "block-params", none: "no params"}));
    box.appendChild(line("cumulative MACs along the network", n.cumulative_mults, {id: "cumulative"}));
    box.appendChild(line("live activation memory over the execution order (" + n.dtype + ")", n.live_bytes,
                         {id: "live", peak: n.peak_bytes, unit: "B", names: names}));
    box.appendChild(bars("MACs by multiplication class", Object.keys(n.mults_by_class).map(function (c) {
      return [CLASSES[c] || c, n.mults_by_class[c]];
    }), {id: "classes", none: "no MACs"}));
  }

  header();
  tabs();
  graphsView();
  tableView();
  chartsView();
  document.documentElement.setAttribute("data-ready", "true");
})();
