// Reloads the alert queue every data-refresh seconds (from the <body>), unless the
// analyst is typing in a filter or the tab is hidden. Served as a file: the console's
// Content-Security-Policy forbids inline script.
(function () {
  "use strict";
  var seconds = Number(document.body.getAttribute("data-refresh") || 0);
  if (!(seconds > 0)) {
    return;
  }
  setInterval(function () {
    var active = document.activeElement;
    var typing = active && ["INPUT", "SELECT", "TEXTAREA"].indexOf(active.tagName) >= 0;
    if (!typing && document.visibilityState === "visible") {
      window.location.reload();
    }
  }, seconds * 1000);
})();
