// Progressive enhancement for the dashboard: the period picker submits itself on change.
// Without JavaScript the <noscript> button submits the same form.
document.getElementById("period").addEventListener("change", function () { this.form.submit(); });

// The realtime count (visitors in the last 5 minutes), refreshed every 30 s through the session.
(function () {
  var realtime = document.getElementById("realtime");
  if (!realtime || !window.fetch) return;
  setInterval(function () {
    fetch(realtime.dataset.url, {credentials: "same-origin"}).then(function (r) {
      if (!r.ok) return;
      var suppressed = r.headers.get("X-SPII-Suppressed") === "true";
      return r.json().then(function (n) { realtime.textContent = suppressed ? "Fewer than " + realtime.dataset.k : n; });
    }).catch(function () {});
  }, 30000);
})();
