// cnncost's charts: bars and a line over the execution order, each with its scale. They draw
// the numbers they are given (the report's); only the ticks' round values are chosen here.
function cnncostCharts(h) {             // h: the page's el, sv, si and fmt
  "use strict";
  var el = h.el, sv = h.sv, si = h.si, fmt = h.fmt;
  function ticks(max, count) {
    // round steps (1, 2 or 5 times a power of ten) from 0 to the first step at or past max
    var raw = max / count, p = Math.pow(10, Math.floor(Math.log10(raw))), step = p;
    [1, 2, 5, 10].some(function (m) { step = m * p; return m * p >= raw; });
    var out = [];
    for (var v = 0; v < max + step / 2 && out.length <= count + 1; v += step) out.push(v);
    if (out[out.length - 1] < max) out.push(out[out.length - 1] + step);
    return out;
  }
  function tick(svg, x1, y1, x2, y2, label, attrs) {
    svg.appendChild(sv("line", {"class": "grid", x1: x1, y1: y1, x2: x2, y2: y2}));
    svg.appendChild(sv("text", Object.assign({"class": "tick"}, attrs), label));
  }
  function bars(title, items, opts) {
    // rows of nothing are left out (and named under the chart): a bar of 0 says nothing
    opts = opts || {};
    var box = el("div", {"class": "chart", "data-chart": opts.id || title}), rowH = 18;
    box.appendChild(el("h3", {}, title));
    var none = items.filter(function (i) { return !i[1]; }).map(function (i) { return i[0]; });
    items = items.filter(function (i) { return i[1]; });
    var labelW = 230, w = 600, top = 4, height = items.length * rowH;
    var scale = ticks(Math.max.apply(null, items.map(function (i) { return i[1]; }).concat([1])), 5);
    var max = scale[scale.length - 1];
    var svg = sv("svg", {width: labelW + w + 110, height: top + height + 24});
    scale.forEach(function (v) {
      var x = labelW + w * v / max;
      tick(svg, x, top, x, top + height + 4, si(v) + (opts.unit || ""), {x: x, y: top + height + 17, "text-anchor": "middle"});
    });
    svg.appendChild(sv("line", {"class": "axis", x1: labelW, y1: top + height + 4, x2: labelW + w, y2: top + height + 4}));
    items.forEach(function (it, k) {
      var y = top + k * rowH + 2, bw = Math.max(1, w * it[1] / max);
      svg.appendChild(sv("text", {x: labelW - 6, y: y + 12, "text-anchor": "end"}, it[0].length > 36 ? it[0].slice(0, 35) + "…" : it[0]));
      var r = sv("rect", {"class": it[2] ? "bar2" : "bar", x: labelW, y: y, width: bw, height: rowH - 4, "data-v": it[1]});
      r.appendChild(sv("title", {}, it[0] + ": " + fmt(it[1])));
      svg.appendChild(r);
      svg.appendChild(sv("text", {x: labelW + bw + 6, y: y + 12}, fmt(it[1])));
    });
    box.appendChild(svg);
    if (none.length) {
      box.appendChild(el("p", {"class": "note none"}, "not drawn, " + (opts.none || "none") + ": " +
                                                      (none.length > 8 ? none.length + " rows" : none.join(", "))));
    }
    return box;
  }
  function line(title, values, opts) {
    opts = opts || {};
    var box = el("div", {"class": "chart", "data-chart": opts.id || title});
    box.appendChild(el("h3", {}, title));
    var w = 760, h = 180, pad = 64, top = 10, n = Math.max(1, values.length - 1);
    var scale = ticks(Math.max.apply(null, values.concat([1])), 5), max = scale[scale.length - 1];
    var svg = sv("svg", {width: w + pad + 30, height: top + h + 40});
    function X(i) { return pad + w * i / n; }
    function Y(v) { return top + h - h * v / max; }
    scale.forEach(function (v) {
      tick(svg, pad - 4, Y(v), pad + w, Y(v), si(v) + (opts.unit || ""), {x: pad - 8, y: Y(v) + 4, "text-anchor": "end"});
    });
    ticks(values.length, 8).forEach(function (k) {       // layer k, counted from 1 as the table's rows
      if (k < 1 || k > values.length) return;
      tick(svg, X(k - 1), top + h, X(k - 1), top + h + 4, String(k), {x: X(k - 1), y: top + h + 17, "text-anchor": "middle"});
    });
    svg.appendChild(sv("line", {"class": "axis", x1: pad, y1: top + h, x2: pad + w, y2: top + h}));
    svg.appendChild(sv("line", {"class": "axis", x1: pad, y1: top, x2: pad, y2: top + h}));
    svg.appendChild(sv("text", {x: pad + w / 2, y: top + h + 34, "text-anchor": "middle", "class": "axislabel"},
                       "layer, in execution order"));
    var d = values.map(function (v, i) { return (i ? "L" : "M") + X(i) + "," + Y(v); }).join(" ");
    svg.appendChild(sv("path", {"class": "line", d: d}));
    if (opts.peak !== undefined) {
      var at = values.indexOf(opts.peak);
      if (at >= 0) {
        var px = X(at), py = Y(opts.peak);
        svg.appendChild(sv("circle", {"class": "peak", cx: px, cy: py, r: 4, "data-peak": opts.peak}));
        svg.appendChild(sv("text", {x: Math.min(px + 8, w), y: py + 4, "class": "peaklabel"}, "peak " + si(opts.peak) +
                                   (opts.unit || "") + " at " + (opts.names ? opts.names[at] : "layer " + (at + 1))));
      }
    }
    box.appendChild(svg);
    return box;
  }
  return {bars: bars, line: line};
}
