// Progressive enhancement for the dashboard: the period picker submits itself on change.
// Without JavaScript the <noscript> button submits the same form.
document.getElementById("period").addEventListener("change", function () { this.form.submit(); });
