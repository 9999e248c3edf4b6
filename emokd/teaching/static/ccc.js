
    var names = ["offset", "scale", "noise", "lag"];
    var inputs = {};
    names.forEach(function (k) { inputs[k] = root.querySelector('input[data-control="' + k + '"]'); });
    var y = d.y, z = d.z, n = y.length;
    var m = 0; for (var i = 0; i < n; i++) { m += y[i]; } m /= n;
    var sd = 0; for (i = 0; i < n; i++) { sd += (y[i] - m) * (y[i] - m); } sd = Math.sqrt(sd / n);
    function sx(t) { return d.pad + (d.w - 2 * d.pad) * t / d.t_max; }
    function sy(v) { return d.h - d.pad - (d.h - 2 * d.pad) * (v - d.y_lo) / (d.y_hi - d.y_lo); }
    function update() {
      var v = {};
      names.forEach(function (k) { v[k] = parseFloat(inputs[k].value); });
      var lag = Math.min(Math.round(v.lag * d.rate), n), p = new Array(n), t = new Array(n);
      for (var i = 0; i < n; i++) {
        var late = i < lag ? y[0] : y[i - lag];
        p[i] = m + v.scale * (late - m) + sd * (v.offset + v.noise * z[i]);
        t[i] = i / d.rate;
      }
      var mp = 0; for (i = 0; i < n; i++) { mp += p[i]; } mp /= n;
      var cov = 0, vp = 0, se = 0;
      for (i = 0; i < n; i++) {
        cov += (y[i] - m) * (p[i] - mp); vp += (p[i] - mp) * (p[i] - mp); se += (p[i] - y[i]) * (p[i] - y[i]);
      }
      cov /= n; vp /= n;
      var lo = Math.min.apply(null, p), hi = Math.max.apply(null, p);
      var flat = hi - lo <= 1e-12 * Math.max(1, Math.abs(lo), Math.abs(hi));
      var den = sd * sd + vp + (m - mp) * (m - mp);
      var ccc = flat ? 0 : (den > 0 ? 2 * cov / den : NaN);
      var pcc = flat ? NaN : cov / Math.sqrt(vp * sd * sd);
      var rmse = Math.sqrt(se / n);
      root.querySelector('polyline[data-role="pred"]').setAttribute("points", points(t, p, sx, sy));
      var s = {ccc: ccc, pcc: pcc, rmse: rmse};
      ["ccc", "pcc", "rmse"].forEach(function (k) {
        root.querySelector('[data-metric="' + k + '"]').textContent = num(s[k], 3);
      });
      ["ccc", "pcc"].forEach(function (k) {
        var bar = root.querySelector('rect[data-bar="' + k + '"]');
        var x0 = d.bar_x0, half = d.bar_half, val = isFinite(s[k]) ? s[k] : 0;
        bar.setAttribute("x", (val >= 0 ? x0 : x0 + half * val).toFixed(1));
        bar.setAttribute("width", Math.abs(half * val).toFixed(1));
      });
      names.forEach(function (k) {
        root.querySelector('output[data-for="' + k + '"]').textContent = inputs[k].value;
      });
      root.setAttribute("data-selection", names.map(function (k) { return inputs[k].value; }).join("|"));
      var text = "PCC " + num(pcc, 2) + ", CCC " + num(ccc, 2) + ", RMSE " + num(rmse, 3) + ". ";
      if (!isFinite(pcc)) { text += "A constant prediction has no correlation at all; its CCC is 0."; }
      else if (pcc - ccc > 0.1) { text += "Correlated but not concordant: PCC ignores level and scale, CCC does not."; }
      else if (Math.abs(pcc - ccc) <= 0.1) { text += "Level and scale are right: CCC is close to PCC."; }
      root.querySelector('[data-view="caption"]').textContent = text;
    }
    names.forEach(function (k) { inputs[k].addEventListener("input", update); });
