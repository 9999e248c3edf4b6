
  function num(v, d) { return (v === null || !isFinite(v)) ? "n/a" : v.toFixed(d); }
  function signed(v, d) { return (v === null || !isFinite(v)) ? "n/a" : (v >= 0 ? "+" : "") + v.toFixed(d); }
  function points(xs, ys, sx, sy) {
    var out = [];
    for (var i = 0; i < xs.length; i++) {
      if (ys[i] === null || !isFinite(ys[i])) { continue; }
      out.push(sx(xs[i]).toFixed(1) + "," + sy(ys[i]).toFixed(1));
    }
    return out.join(" ");
  }
  function when_ready(start) {
    if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", start); }
    else { start(); }
  }
