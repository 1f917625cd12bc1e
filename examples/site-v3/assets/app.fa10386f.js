// Reports what the browser received for this page's assets, so that a person (or the headless
// browser test) can see each fingerprinted file arrived with its Content-Type and applied.
(function () {
  "use strict";
  var report = document.getElementById("asset-report");
  var urls = [];
  document.querySelectorAll('link[rel="stylesheet"]').forEach(function (el) { urls.push(el.href); });
  document.querySelectorAll("script[src]").forEach(function (el) { urls.push(el.src); });
  // A stylesheet served with the wrong Content-Type is refused by the browser, so this stays empty.
  var applied = getComputedStyle(document.documentElement).getPropertyValue("--stylesheet").trim();
  document.body.setAttribute("data-stylesheet", applied.replace(/"/g, "") || "not applied");
  Promise.all(urls.map(function (url) {
    return fetch(url, { method: "HEAD", cache: "no-store" }).then(function (response) {
      var item = document.createElement("li");
      item.setAttribute("data-asset", new URL(url).pathname);
      item.setAttribute("data-status", String(response.status));
      item.setAttribute("data-content-type", response.headers.get("content-type") || "");
      item.textContent = new URL(url).pathname + ": " + response.status + " " +
        (response.headers.get("content-type") || "no Content-Type");
      report.appendChild(item);
    });
  })).then(function () {
    document.body.setAttribute("data-assets-checked", "done");
  }, function (error) {
    document.body.setAttribute("data-assets-checked", "failed: " + error);
  });
})();
