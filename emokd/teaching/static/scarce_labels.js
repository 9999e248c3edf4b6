(function () {
  // emokd.teaching.scarce_labels, refitted in the page: the same ridge regressions and CCC as the
  // Python module (linear_distillation), so the page needs no kernel.
  var root = document.getElementById("__ROOT_ID__");
  if (!root) { return; }
  var d = JSON.parse(root.querySelector('script[data-role="emokd-data"]').textContent);
  var MODELS = ["teacher", "student", "taught"];

  function mean(a) { var s = 0; for (var i = 0; i < a.length; i++) { s += a[i]; } return s / a.length; }
  function constant(a) {
    for (var i = 1; i < a.length; i++) { if (a[i] !== a[0]) { return false; } }
    return true;
  }
  function ccc(t, p) {  // emokd.core.metrics.ccc
    var mt = mean(t), mp = mean(p), cov = 0, vt = 0, vp = 0;
    for (var i = 0; i < t.length; i++) {
      cov += (t[i] - mt) * (p[i] - mp); vt += (t[i] - mt) * (t[i] - mt); vp += (p[i] - mp) * (p[i] - mp);
    }
    if (constant(t) || constant(p)) { cov = 0; }
    var n = t.length, den = vt / n + vp / n + (mt - mp) * (mt - mp);
    return den > 0 ? 2 * (cov / n) / den : NaN;
  }
  function solve(a, b) {  // Gaussian elimination with partial pivoting; a is (n, n), b (n)
    var n = b.length, i, j, k;
    for (k = 0; k < n; k++) {
      var piv = k;
      for (i = k + 1; i < n; i++) { if (Math.abs(a[i][k]) > Math.abs(a[piv][k])) { piv = i; } }
      var tmp = a[k]; a[k] = a[piv]; a[piv] = tmp; var tb = b[k]; b[k] = b[piv]; b[piv] = tb;
      for (i = k + 1; i < n; i++) {
        var f = a[i][k] / a[k][k];
        for (j = k; j < n; j++) { a[i][j] -= f * a[k][j]; }
        b[i] -= f * b[k];
      }
    }
    var x = new Array(n);
    for (i = n - 1; i >= 0; i--) {
      var s = b[i];
      for (j = i + 1; j < n; j++) { s -= a[i][j] * x[j]; }
      x[i] = s / a[i][i];
    }
    return x;
  }
  function ridge(blocks) {  // blocks: [X rows, targets, weight]; the intercept is the last coefficient
    var k = blocks[0][0][0].length, a = [], b = [], i, j, r;
    for (i = 0; i <= k; i++) { a.push(new Array(k + 1).fill(0)); b.push(0); }
    blocks.forEach(function (blk) {
      var x = blk[0], y = blk[1], w = blk[2];
      if (w === 0) { return; }
      for (r = 0; r < x.length; r++) {
        var row = x[r].concat([1]);
        for (i = 0; i <= k; i++) {
          b[i] += w * row[i] * y[r];
          for (j = 0; j <= k; j++) { a[i][j] += w * row[i] * row[j]; }
        }
      }
    });
    for (i = 0; i < k; i++) { a[i][i] += d.alpha; }
    return solve(a, b);
  }
  function predict(b, x) {
    var out = new Array(x.length), k = b.length - 1;
    for (var r = 0; r < x.length; r++) {
      var s = b[k];
      for (var i = 0; i < k; i++) { s += x[r][i] * b[i]; }
      out[r] = s;
    }
    return out;
  }
  function labelled(fold, k) {
    var train = {}, out = [];
    fold.train.forEach(function (key) { train[key] = true; });
    Object.keys(d.order).forEach(function (s) {
      var mine = d.order[s].filter(function (key) { return train[key]; });
      out = out.concat(mine.slice(0, Math.max(1, Math.min(k, mine.length))));
    });
    return out.sort();
  }
  function scores(k, w) {  // emokd.teaching.scarce_labels.linear_distillation
    var acc = {};
    MODELS.forEach(function (m) { acc[m] = {per_trial: [], concatenated: []}; });
    d.folds.forEach(function (fold) {
      var lab = labelled(fold, k), T = d.trials;
      var teacher = ridge(lab.map(function (key) { return [T[key].face, T[key].y, 1]; }));
      var student = ridge(lab.map(function (key) { return [T[key].eeg, T[key].y, 1]; }));
      var blocks = lab.map(function (key) { return [T[key].eeg, T[key].y, 1]; });
      var isLab = {};
      lab.forEach(function (key) { isLab[key] = true; });
      fold.train.forEach(function (key) {
        if (!isLab[key]) { blocks.push([T[key].eeg, predict(teacher, T[key].face), w]); }
      });
      var taught = ridge(blocks);
      var coef = {teacher: teacher, student: student, taught: taught};
      MODELS.forEach(function (m) {
        var per = [], ys = [], ps = [];
        fold.test.forEach(function (key) {
          var p = predict(coef[m], m === "teacher" ? T[key].face : T[key].eeg);
          var c = ccc(T[key].y, p);
          if (isFinite(c)) { per.push(c); }
          ys = ys.concat(T[key].y); ps = ps.concat(p);
        });
        acc[m].per_trial.push(per.length ? mean(per) : NaN);
        acc[m].concatenated.push(ccc(ys, ps));
      });
    });
    var out = {};
    MODELS.forEach(function (m) { out[m] = {per_trial: mean(acc[m].per_trial), concatenated: mean(acc[m].concatenated)}; });
    return out;
  }
  var sel = {k: root.querySelector('select[data-control="k"]'), w: root.querySelector('select[data-control="w"]')};
  function sx(k) { return d.pad + (d.w_px - 2 * d.pad) * (k - 1) / Math.max(1, d.k_max - 1); }
  function sy(v) { return d.h_px - d.pad - (d.h_px - 2 * d.pad) * (v - d.y_lo) / (d.y_hi - d.y_lo); }
  function fixed(v) { return (v === null || !isFinite(v)) ? "n/a" : v.toFixed(3); }
  function update() {
    var k = parseInt(sel.k.value, 10), w = parseFloat(sel.w.value), curve = {};
    for (var kk = 1; kk <= d.k_max; kk++) { curve[kk] = scores(kk, w); }
    MODELS.forEach(function (m) {
      var pts = [];
      for (var kk = 1; kk <= d.k_max; kk++) { pts.push(sx(kk).toFixed(1) + "," + sy(curve[kk][m].per_trial).toFixed(1)); }
      root.querySelector('polyline[data-model="' + m + '"]').setAttribute("points", pts.join(" "));
      ["per_trial", "concatenated"].forEach(function (s) {
        root.querySelector('[data-metric="' + m + "-" + s + '"]').textContent = fixed(curve[k][m][s]);
      });
    });
    var cur = root.querySelector('line[data-role="cursor"]');
    cur.setAttribute("x1", sx(k).toFixed(1)); cur.setAttribute("x2", sx(k).toFixed(1));
    var gain = curve[k].taught.per_trial - curve[k].student.per_trial;
    root.querySelector('[data-view="caption"]').textContent = k + " labelled trial(s) per subject, teacher weight " +
      String(w) + ": the taught student's per-trial CCC is " + (gain >= 0 ? "+" : "") + gain.toFixed(3) +
      " from the student's.";
    root.setAttribute("data-selection", sel.k.value + "|" + sel.w.value);
  }
  sel.k.addEventListener("change", update);
  sel.w.addEventListener("change", update);
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", update); } else { update(); }
})();
