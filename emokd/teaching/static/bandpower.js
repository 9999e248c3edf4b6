
    var names = ["window", "hop", "band"];
    var sel = {};
    names.forEach(function (k) { sel[k] = root.querySelector('select[data-control="' + k + '"]'); });
    function sx(t) { return d.pad + (d.w - 2 * d.pad) * (t - d.t_lo) / (d.t_hi - d.t_lo); }
    function update() {
      var key = sel.window.value + "|" + sel.hop.value, b = d.bands.indexOf(sel.band.value);
      var g = d.grid[key], lo = d.range[b][0], hi = d.range[b][1];
      function sy(v) { return d.h - d.pad - (d.h - 2 * d.pad) * (v - lo) / (hi - lo); }
      var line = root.querySelector('polyline[data-role="power"]');
      line.setAttribute("points", g ? points(g.c, g.p[b], sx, sy) : "");
      var dots = root.querySelector('g[data-role="dots"]');
      while (dots.firstChild) { dots.removeChild(dots.firstChild); }
      if (g && g.c.length <= d.max_dots) {
        for (var i = 0; i < g.c.length; i++) {
          var c = document.createElementNS("http://www.w3.org/2000/svg", "circle");
          c.setAttribute("cx", sx(g.c[i]).toFixed(1)); c.setAttribute("cy", sy(g.p[b][i]).toFixed(1));
          c.setAttribute("r", "1.8"); dots.appendChild(c);
        }
      }
      root.querySelector('[data-role="p_lo"]').textContent = lo.toPrecision(2);
      root.querySelector('[data-role="p_hi"]').textContent = hi.toPrecision(2);
      root.querySelectorAll("td[data-key]").forEach(function (td) {
        var s = d.summary[td.getAttribute("data-key")];
        td.textContent = s ? num(s.r[b], 2) : "";
        td.setAttribute("class", td.getAttribute("data-key") === key ? "emokd-selected" : "");
        td.style.background = s && s.r[b] !== null ? d.colour(s.r[b]) : "";
      });
      root.setAttribute("data-selection", names.map(function (k) { return sel[k].value; }).join("|"));
      var text;
      if (!g) { text = "no " + sel.window.value + " s window fits in this excerpt"; }
      else {
        var s = d.summary[key];
        text = sel.band.value + " at " + d.channel + ": " + g.c.length + " windows of " + sel.window.value +
          " s every " + sel.hop.value + " s (" + num(1 / parseFloat(sel.hop.value), 2).replace(/\.?0+$/, "") +
          " per s), frequency resolution " + num(s.res, 2).replace(/\.?0+$/, "") + " Hz; SD over time " +
          s.sd[b].toPrecision(2) + "; r with valence " + num(s.r[b], 2);
      }
      root.querySelector('[data-view="caption"]').textContent = text;
    }
    d.colour = function (r) {
      var a = Math.min(1, Math.abs(r) / d.r_max);
      return r >= 0 ? "rgba(214,39,40," + (0.6 * a).toFixed(2) + ")" : "rgba(31,119,180," + (0.6 * a).toFixed(2) + ")";
    };
    names.forEach(function (k) { sel[k].addEventListener("change", update); });
