
    var names = ["target", "scheme", "private", "weight", "noise"];
    var sel = {};
    names.forEach(function (k) { sel[k] = root.querySelector('select[data-control="' + k + '"]'); });
    var NS = "http://www.w3.org/2000/svg";
    function el(tag, attrs) {
      var e = document.createElementNS(NS, tag);
      for (var k in attrs) { e.setAttribute(k, attrs[k]); }
      return e;
    }
    function sx(noise) { var i = d.noises.indexOf(noise); return d.pad + (i + 0.5) * (d.w - 2 * d.pad) / d.noises.length; }
    function update() {
      var v = {};
      names.forEach(function (k) { v[k] = sel[k].value; });
      var key = v.target + "|" + v.scheme + "|" + v.private + "|" + v.weight;
      var rows = d.summary[key] || [];
      var units = d.units.filter(function (u) { return String(u.private) === v.private && String(u.kd_weight) === v.weight; });
      var gk = "gain_" + v.target + "_" + v.scheme;
      var lo = d.gain_lo, hi = d.gain_hi;
      function sy(g) { return d.h - d.pad - (d.h - 2 * d.pad) * (g - lo) / (hi - lo); }
      var g = root.querySelector('g[data-role="gain"]');
      while (g.firstChild) { g.removeChild(g.firstChild); }
      units.forEach(function (u) {
        if (u[gk] === null) { return; }
        var jitter = ((u.fold * 7 + u.seed * 3) % 11 - 5) * 2.2;
        g.appendChild(el("circle", {cx: (sx(u.noise) + jitter).toFixed(1), cy: sy(u[gk]).toFixed(1), r: 2.6,
          fill: String(u.noise) === v.noise ? "#555" : "#bbb"}));
      });
      rows.forEach(function (r) {
        var x = sx(r.noise);
        if (r.ci[0] !== null) {
          g.appendChild(el("line", {x1: x + 14, x2: x + 14, y1: sy(r.ci[0]).toFixed(1), y2: sy(r.ci[1]).toFixed(1),
            stroke: "#000", "stroke-width": 1.5}));
        }
        g.appendChild(el("rect", {x: x + 10, y: (sy(r.mean) - 4).toFixed(1), width: 8, height: 8, fill: "#000"}));
      });
      root.querySelector('line[data-role="zero"]').setAttribute("y1", sy(0).toFixed(1));
      root.querySelector('line[data-role="zero"]').setAttribute("y2", sy(0).toFixed(1));
      var m = root.querySelector('g[data-role="models"]');
      while (m.firstChild) { m.removeChild(m.firstChild); }
      function my(c) { return d.h - d.pad - (d.h - 2 * d.pad) * c; }
      d.models.forEach(function (name) {
        var xs = rows.map(function (r) { return r.noise; }), ys = rows.map(function (r) { return r.models[name]; });
        var pts = [];
        for (var i = 0; i < xs.length; i++) {
          if (ys[i] === null) { continue; }
          var y = Math.max(0, Math.min(1, ys[i]));
          pts.push(sx(xs[i]).toFixed(1) + "," + my(y).toFixed(1));
          m.appendChild(el("circle", {cx: sx(xs[i]).toFixed(1), cy: my(y).toFixed(1), r: 3, fill: d.colours[name]}));
        }
        m.appendChild(el("polyline", {points: pts.join(" "), fill: "none", stroke: d.colours[name], "stroke-width": 1.5}));
      });
      root.setAttribute("data-selection", names.map(function (k) { return v[k]; }).join("|"));
      var row = rows.filter(function (r) { return String(r.noise) === v.noise; })[0];
      var text;
      if (!row) {
        text = "no run of the study at noise " + v.noise + " SD with face-only content " + v.private +
          " SD and KD weight " + v.weight;
      } else {
        text = "noise " + v.noise + " SD, face-only content " + v.private + " SD, KD weight " + v.weight +
          ", CCC " + v.scheme.replace("_", " ") + " against the " + v.target + ": " + row.n + " fold x seed units (seeds " +
          row.seeds.join(", ") + "); KD gain " + signed(row.mean, 3) + " [" + signed(row.ci[0], 3) + ", " +
          signed(row.ci[1], 3) + "], " + row.n_positive + " of " + row.n + " positive; teacher " +
          num(row.models.teacher, 2) + ", student " + num(row.models.student, 2) + ", KD student " +
          num(row.models.student_kd, 2);
      }
      root.querySelector('[data-view="caption"]').textContent = text;
    }
    names.forEach(function (k) { sel[k].addEventListener("change", update); });
