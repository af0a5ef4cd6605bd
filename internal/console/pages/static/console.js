// Follows the page's event stream (data-live-url) and swaps in the fragments the server
// re-rendered. Pages are complete without it: a reload always shows the truth.
(function () {
  "use strict";
  var url = document.body && document.body.getAttribute("data-live-url");
  if (!url || !window.EventSource) { return; }
  var source = new EventSource(url);

  // fragments: {"timeline": "<ol…>", "phase": "…"} for the elements marked data-live=KEY.
  source.addEventListener("fragments", function (ev) {
    var parts = JSON.parse(ev.data);
    Object.keys(parts).forEach(function (key) {
      var el = document.querySelector('[data-live="' + key + '"]');
      if (el) { el.innerHTML = parts[key]; }
    });
  });

  // row: one container of a list changed ({namespace, name, html}) or went (html empty).
  source.addEventListener("row", function (ev) {
    var row = JSON.parse(ev.data);
    var list = document.querySelector('[data-testid="container-list"] tbody');
    if (!list) { return; }
    var sel = 'tr[data-namespace="' + CSS.escape(row.namespace) + '"][data-name="' + CSS.escape(row.name) + '"]';
    var old = list.querySelector(sel);
    if (!row.html) { if (old) { old.remove(); } return; }
    var t = document.createElement("tbody");
    t.innerHTML = row.html;
    var fresh = t.firstElementChild;
    if (!fresh) { return; }
    if (old) { old.replaceWith(fresh); } else { list.appendChild(fresh); }
  });

  // changed: something on a summary page changed; fetch the page once and swap its main part.
  var pending = false;
  source.addEventListener("changed", function () {
    if (pending) { return; }
    pending = true;
    setTimeout(function () {
      fetch(window.location.href, { credentials: "same-origin" }).then(function (r) { return r.text(); }).then(function (html) {
        var doc = new DOMParser().parseFromString(html, "text/html");
        var main = doc.getElementById("main");
        if (main) { document.getElementById("main").innerHTML = main.innerHTML; }
      }).finally(function () { pending = false; });
    }, 200);
  });

  // gone: the container was deleted.
  source.addEventListener("gone", function () { window.location.assign("/containers"); });
  // signin: the API server stopped accepting the session's token.
  source.addEventListener("signin", function () { source.close(); window.location.assign("/signin?expired=1"); });
})();
