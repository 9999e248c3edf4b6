
(function () {
  var root = document.getElementById("__ROOT_ID__");
  if (!root) { return; }
  function start() {
    var data = JSON.parse(root.querySelector('script[data-role="emokd-data"]').textContent);
    var names = ["model", "method", "band", "subject", "state"];
    var states = {all: "all steps", high: "high-valence steps", low: "low-valence steps"};
    var controls = {};
    names.forEach(function (k) { controls[k] = root.querySelector('select[data-control="' + k + '"]'); });
    function colour(v, lo, hi) {
      var t = hi > lo ? (v - lo) / (hi - lo) : 0.5;
      var i = Math.floor(t * (data.lut.length - 1) + 0.5);
      return data.lut[Math.min(data.lut.length - 1, Math.max(0, i))];
    }
    function pct(v) { return Math.round(100 * v) + "%"; }
    function update() {
      var sel = {};
      names.forEach(function (k) { sel[k] = controls[k].value; });
      root.setAttribute("data-selection", names.map(function (k) { return sel[k]; }).join("|"));
      var key = sel.subject + "|" + sel.state;
      var map = data.maps[sel.model][sel.method][key];
      var b = data.bands.indexOf(sel.band);
      var lo = Infinity, hi = -Infinity, sums = [];
      if (map) {
        map.forEach(function (row) {
          var s = 0;
          row.forEach(function (v) { lo = Math.min(lo, v); hi = Math.max(hi, v); s += v; });
          sums.push(s);
        });
      }
      data.channels.forEach(function (ch, c) {
        var circle = root.querySelector('circle[data-channel="' + ch + '"]');
        circle.setAttribute("fill", map ? colour(map[b][c], lo, hi) : data.missing);
        circle.querySelector("title").textContent = ch + ": " + (map ? map[b][c].toPrecision(3) : "no map");
      });
      root.querySelector('[data-role="vmin"]').textContent = map ? lo.toPrecision(3) : "";
      root.querySelector('[data-role="vmax"]').textContent = map ? hi.toPrecision(3) : "";
      var top = map ? Math.max.apply(null, sums) : 1;
      data.bands.forEach(function (band, i) {
        var rect = root.querySelector('rect[data-band="' + band + '"]');
        var h = map && top > 0 ? __BAR_H__ * sums[i] / top : 0;
        rect.setAttribute("height", h.toFixed(1));
        rect.setAttribute("y", (__BAR_BASE__ - h).toFixed(1));
        rect.setAttribute("class", i === b ? "emokd-selected" : "");
        root.querySelector('text[data-role="share-' + i + '"]').textContent = map ? pct(sums[i]) : "";
      });
      var who = sel.subject === "all" ? "all subjects" : "subject " + sel.subject;
      var text = sel.model + ", " + sel.method + ", " + sel.band + ", " + who + ", " + states[sel.state];
      if (!map) {
        text += "; no map: saliency.json keeps maps per subject (all steps) and per valence state " +
                "(all subjects), not both";
      } else {
        text += "; " + sel.band + " holds " + pct(sums[b]) + " of the map";
        var r = data.spearman[sel.model][sel.method][key];
        text += data.truth ? "; Spearman with the planted truth " + (r === null ? "n/a" : r.toFixed(2))
                           : "; no planted truth (real data)";
      }
      root.querySelector('[data-view="caption"]').textContent = text;
    }
    names.forEach(function (k) { controls[k].addEventListener("change", update); });
    update();
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
