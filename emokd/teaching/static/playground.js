(function () {
  var root = document.getElementById("__ROOT_ID__");
  if (!root) { return; }
  __HELPERS__
  function start() {
    var d = JSON.parse(root.querySelector('script[data-role="emokd-data"]').textContent);
__BODY__    update();
  }
  when_ready(start);
})();
