// cnncost's graph layout: pure geometry on the visible nodes and edges (no page, no counting).
// Ranks by longest path with a point per crossed rank (Sugiyama's dummy nodes), barycentre
// ordering, then the ranks wrapped into columns, as a newspaper's, so that a long network
// fills the width of the view instead of running down one narrow column.
var cnncostLayout = (function () {
  "use strict";
  var GAP = 26, COLUMN_GAP = 56, LANE = 5, MARGIN = 20, MAX_CROSSING = 3;

  function ranks(vis, W) {
    var rank = {}, preds = {};
    vis.order.forEach(function (id) { preds[id] = []; });
    vis.edges.forEach(function (e) { preds[e.to].push(e.from); });
    vis.order.forEach(function (id) {
      rank[id] = preds[id].reduce(function (a, p) { return Math.max(a, rank[p] + 1); }, 0);
    });
    // long edges pass through one point per rank they cross
    var layers = [], chains = [];
    function put(id, r) { (layers[r] = layers[r] || []).push(id); }
    vis.order.forEach(function (id) { put(id, rank[id]); });
    vis.edges.forEach(function (e, k) {
      var chain = [e.from];
      for (var r = rank[e.from] + 1; r < rank[e.to]; r++) {
        var d = "d" + k + "_" + r; W[d] = 8; rank[d] = r; put(d, r); chain.push(d);
      }
      chain.push(e.to); chains.push(chain);
    });
    var up = {}, down = {};
    chains.forEach(function (c) {
      for (var i = 1; i < c.length; i++) {
        (up[c[i]] = up[c[i]] || []).push(c[i - 1]); (down[c[i - 1]] = down[c[i - 1]] || []).push(c[i]);
      }
    });
    return {rank: rank, layers: layers, chains: chains, up: up, down: down};
  }

  function order(g) {                                   // barycentre ordering, down then up
    var pos = {};
    g.layers.forEach(function (l) { l.forEach(function (id, i) { pos[id] = i; }); });
    for (var sweep = 0; sweep < 4; sweep++) {
      var goingDown = sweep % 2 === 0, nb = goingDown ? g.up : g.down;
      var seq = goingDown ? g.layers.slice(1) : g.layers.slice(0, -1).reverse();
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
  }

  // Pack each rank, then pull every point towards its neighbours in the rank above (below,
  // on alternate passes): the layers first, centred as a group where they want one place
  // (an inception's branches under their input), then a long edge's points beside them. A
  // block's main path stays straight (pushed in rank order, it drifted sideways block after
  // block, 1,600 px over ResNet-50).
  function place(g, W) {
    var X = {};
    g.layers.forEach(function (l) {
      var x = 0;
      l.forEach(function (id) { X[id] = x + W[id] / 2; x += W[id] + GAP; });
    });
    for (var pass = 0; pass < 4; pass++) {
      var ls = pass % 2 ? g.layers.slice().reverse() : g.layers;
      ls.forEach(function (l) {
        var want = l.map(function (id) {                // a long edge's points pull a tenth as hard
          var ns = pass % 2 ? (g.down[id] || []) : (g.up[id] || []), sum = 0, weight = 0;
          ns.forEach(function (n) { var w = W[n] > 8 ? 1 : 0.1; sum += w * X[n]; weight += w; });
          return weight ? sum / weight : X[id];
        });
        var sep = [0];                                  // sep[i]: least distance from l[0] to l[i]
        for (var i = 1; i < l.length; i++) sep.push(sep[i - 1] + W[l[i - 1]] / 2 + GAP + W[l[i]] / 2);
        var placed = [];
        [true, false].forEach(function (layers) {
          var group = [];
          l.forEach(function (id, i) { if ((W[id] > 8) === layers) group.push(i); });
          settle(group, placed, want, sep, l, X);
          placed = placed.concat(group);
        });
      });
    }
    return X;
  }

  // Each of `group` as near its wish as the points already `placed` and its neighbours in the
  // group allow: packed from the left and from the right, and the two averaged (both keep
  // every distance, so their mean does; it centres nodes that want the same place).
  function settle(group, placed, want, sep, l, X) {
    var lo = {}, hi = {};
    group.forEach(function (i) {
      lo[i] = -Infinity; hi[i] = Infinity;
      placed.forEach(function (j) {
        if (j < i) lo[i] = Math.max(lo[i], X[l[j]] + sep[i] - sep[j]);
        else hi[i] = Math.min(hi[i], X[l[j]] - (sep[j] - sep[i]));
      });
    });
    function pack(fromLeft) {
      var x = {}, k, i, n = group.length;
      for (k = 0; k < n; k++) {                         // towards the wish, kept apart one way
        i = group[fromLeft ? k : n - 1 - k];
        var prev = group[fromLeft ? k - 1 : n - k];
        x[i] = fromLeft ? Math.max(want[i], lo[i], k ? x[prev] + sep[i] - sep[prev] : -Infinity)
                        : Math.min(want[i], hi[i], k ? x[prev] - (sep[prev] - sep[i]) : Infinity);
      }
      for (k = n - 1; k >= 0; k--) {                    // and within the other bound
        i = group[fromLeft ? k : n - 1 - k];
        var next = group[fromLeft ? k + 1 : n - 2 - k];
        x[i] = fromLeft ? Math.min(x[i], hi[i], next !== undefined ? x[next] - (sep[next] - sep[i]) : Infinity)
                        : Math.max(x[i], lo[i], next !== undefined ? x[next] + sep[i] - sep[next] : -Infinity);
      }
      return x;
    }
    var a = pack(true), b = pack(false);
    group.forEach(function (i) { X[l[i]] = (a[i] + b[i]) / 2; });
  }

  function extent(ids, X, W) {
    var lo = Infinity, hi = -Infinity;
    ids.forEach(function (id) { lo = Math.min(lo, X[id] - W[id] / 2); hi = Math.max(hi, X[id] + W[id] / 2); });
    return [lo, hi];
  }

  // The first rank of each column: as many ranks as the view's height holds, more when the
  // columns would not fit its width; a break moves up to two ranks earlier where fewer
  // edges cross it (between blocks rather than through one).
  function columns(g, X, W, view, rankHeight) {
    var n = g.layers.length, room = view.width - 2 * MARGIN;
    var fit = Math.max(3, Math.floor(view.height / rankHeight));
    function crossing(r) {
      return g.layers[r].reduce(function (a, id) { return a + (g.up[id] || []).length; }, 0);
    }
    function breaks(rows, prefer) {
      var starts = [0];
      while (starts[starts.length - 1] + rows < n) {
        var want = starts[starts.length - 1] + rows, best = want;
        for (var b = want - 1; prefer && b >= want - 2 && b > starts[starts.length - 1] + 1; b--) {
          if (crossing(b) < crossing(best)) best = b;
        }
        starts.push(best);
      }
      return starts;
    }
    function width(starts) {
      return starts.reduce(function (a, s, c) {
        var e = extent([].concat.apply([], g.layers.slice(s, c + 1 < starts.length ? starts[c + 1] : n)), X, W);
        return a + e[1] - e[0] + (c ? COLUMN_GAP : 0);
      }, 0);
    }
    var widest = g.layers.reduce(function (a, l) { var e = extent(l, X, W); return Math.max(a, e[1] - e[0]); }, 0);
    var most = Math.max(1, Math.floor((room + COLUMN_GAP) / (widest + COLUMN_GAP)));
    // a short scroll beats a column of two ranks, and a tangle of edges across every break
    if (n <= fit * 1.35) most = 1;
    for (var c = most; ; c--) {                         // the most columns whose widths fit the view
      var rows = n <= fit ? n : Math.max(fit, Math.ceil(n / c));
      rows = Math.ceil(n / Math.ceil(n / rows));       // columns of even length: 5, 5, 4 rather than 6, 6, 2
      var starts = breaks(rows, true);
      if (starts.length > Math.ceil(n / rows) + 1) starts = breaks(rows, false);
      var wide = width(starts), tangled = starts.some(function (s, k) { return k && crossing(s) > MAX_CROSSING; });
      if ((wide <= room && !tangled) || c === 1) {
        starts.fits = rows <= fit && wide <= room;     // nothing to scroll either way
        return starts;
      }
    }
  }

  // view: {width, height} of the box; box: {H, rankHeight}; returns every position
  function layout(vis, W, view, box) {
    var g = ranks(vis, W);
    order(g);
    var X = place(g, W), H = box.H, RY = box.rankHeight;
    var starts = columns(g, X, W, view, RY), col = {}, colOf = [];
    g.layers.forEach(function (l, r) {
      var c = 0;
      while (c + 1 < starts.length && starts[c + 1] <= r) c++;
      colOf[r] = c;
      l.forEach(function (id) { col[id] = c; });
    });
    var lanes = starts.map(function (s, c) {          // edges that cross into column c
      return c ? g.layers[s].reduce(function (a, id) { return a + (g.up[id] || []).length; }, 0) : 0;
    });
    var maxLanes = Math.max.apply(null, lanes.concat([0]));
    var top = MARGIN + 6 + (maxLanes ? 14 + maxLanes * LANE : 0), left = [], widths = [], x = MARGIN, Y = {}, bottom = [];
    starts.forEach(function (s, c) {
      var end = c + 1 < starts.length ? starts[c + 1] : g.layers.length;
      var ids = [].concat.apply([], g.layers.slice(s, end)), e = extent(ids, X, W);
      ids.forEach(function (id) { X[id] += x - e[0]; Y[id] = top + (g.rank[id] - s) * RY; });
      left.push(x); widths.push(e[1] - e[0]); x += e[1] - e[0] + COLUMN_GAP;
      bottom.push(top + (end - s - 1) * RY + H);
    });
    var L = {X: X, Y: Y, W: W, H: H, col: col, chains: g.chains, columns: starts.length, top: top, fits: starts.fits,
             width: x - COLUMN_GAP + MARGIN, height: Math.max.apply(null, bottom) + 14 + maxLanes * LANE + MARGIN};
    var used = starts.map(function () { return 0; });
    L.paths = g.chains.map(function (c) { return route(c, L, left, bottom, used); });
    return L;
  }

  // An edge through its chain of points: curves within a column; into the next column down
  // past the column's last rank, along the gap between the columns, over the top and down.
  function route(c, L, left, bottom, used) {
    var H = L.H, pts = c.map(function (id, i) {
      return [L.X[id], i === 0 ? L.Y[id] + H : (i === c.length - 1 ? L.Y[id] : L.Y[id] + H / 2), L.col[id]];
    });
    var d = "M" + pts[0][0] + "," + pts[0][1], label = null;
    for (var i = 1; i < pts.length; i++) {
      var p = pts[i - 1], q = pts[i];
      if (q[2] === p[2]) {
        var my = (p[1] + q[1]) / 2;
        d += " C" + p[0] + "," + my + " " + q[0] + "," + my + " " + q[0] + "," + q[1];
        if (!label) label = pts.length > 2 ? [q[0], q[1]] : [(p[0] + q[0]) / 2, my];
      } else {
        var lane = used[q[2]]++, low = bottom[p[2]] + 14 + lane * LANE, high = L.top - 22 - lane * LANE;
        var gx = left[q[2]] - COLUMN_GAP / 2 + lane * LANE;
        d += " L" + p[0] + "," + low + " L" + gx + "," + low + " L" + gx + "," + high + " L" + q[0] + "," + high +
             " L" + q[0] + "," + q[1];
        if (!label) label = [p[0], p[1] + 12];
      }
    }
    return {d: d, label: label};
  }

  return layout;
})();
