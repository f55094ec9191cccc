/* spii tracker (readable source; spii.min.js is what /js/spii.js serves, made by scripts/minify-tracker.sh).
   Cookieless unless data-consent="granted" or spii("consent", true). See README "For site owners". */
((w, d) => {
  const n = w.navigator, l = w.location, s = d.currentScript, h = w.history;
  const queue = w.spii?.q || [];
  const attr = (k) => s?.getAttribute("data-" + k);
  const domain = attr("domain") || l.hostname;
  const api = attr("api") || new URL(s.src).origin + "/api/event";
  const hash = attr("hash") != null;
  const auto = attr("auto");  // "outbound,downloads,forms" (any of them)
  // data-exclude="/admin/*,/preview": * matches anything
  const skip = (attr("exclude") || "").split(",").map((p) => RegExp("^" + p.replace(/\*/g, ".*") + "$"));
  let last, page, depth, sent, engaged, since;  // the page's URL, scroll depth (%, sent so far), engaged ms, visible since

  const cookieId = () => d.cookie.match(/\b_spii=(\w+)/)?.[1];
  // opted out; or a developer's machine or an automated browser, unless data-local is set
  const off = () => localStorage.spii_ignore ||
    ((n.webdriver || /^(localhost|127\.|\[::1|$)/.test(l.hostname)) && attr("local") == null);  // file: has no host

  // never throws into the page: a blocked localStorage or a failed send just sends nothing
  const send = (name, extra) => {
    try {
      const path = l.pathname + (hash ? l.hash : "");
      if (off() || skip.some((re) => re.test(path))) return;
      const event = { n: name, u: l.href, d: domain, r: d.referrer, h: hash, ...extra };
      // GPC / DNT: no cookie id, and g tells the server to store no identifier at all
      n.globalPrivacyControl || n.doNotTrack == "1" ? (event.g = 1) : (event.cid = cookieId());
      const body = JSON.stringify(event);
      n.sendBeacon(api, body) || fetch(api, { method: "POST", body, keepalive: true }).catch(() => {});
    } catch (e) {}
  };

  // Engagement (Plausible's): how far the page was scrolled and how long it was visible and
  // focused, sent when it is hidden or left, or on SPA navigation, if the depth grew or 3 s built up
  const visible = () => d.visibilityState == "visible" && d.hasFocus();
  const clock = () => engaged + (since && Date.now() - since);
  // (the server caps it at 100 %)
  const scrolled = () => { depth = Math.max(depth, Math.round((w.scrollY + w.innerHeight) / d.documentElement.scrollHeight * 100)); };
  const engage = () => {
    const e = clock();
    if (last && (depth > sent || e >= 3e3)) { sent = depth; engaged = 0; since &&= Date.now(); send("engagement", { u: page, sd: depth, e }); }
  };
  const stop = () => { engaged = clock(); since = 0; engage(); };
  const tick = () => visible() ? (since ||= Date.now()) : stop();

  const pageview = () => {
    const url = l.pathname + l.search + (hash ? l.hash : "");
    if (url != last) {
      engage();  // the page being left
      last = url; page = l.href; depth = sent = engaged = 0; since = visible() && Date.now();
      send("pageview"); scrolled();
    }
  };

  // 128 random bits (four 32-bit words, in decimal), first-party, at most 395 days from consent
  const consent = (on) => {
    if (!on || !cookieId())
      d.cookie = "_spii=" + (on ? crypto.getRandomValues(new Uint32Array(4)).join("") : "") + "; path=/; SameSite=Lax; Max-Age=" + (on ? 34128000 : 0);
  };

  // spii("event", name, props) | spii("transaction"|"fulfilment"|"contact", fields) | spii("consent", bool) | spii("optout")
  const spii = (command, a, b) => {
    try {
      command == "event" ? send(a, b && { p: b }) :
      command == "consent" ? consent(a === true) :
      command == "optout" ? (localStorage.spii_ignore = 1) :
      send(command, a);
    } catch (e) {}
  };

  if (attr("consent") == "granted") consent(1);
  ["pushState", "replaceState"].map((m) => {
    const original = h[m];
    h[m] = (...args) => { original.apply(h, args); pageview(); };
  });
  w.addEventListener("popstate", pageview);
  w.addEventListener("hashchange", pageview);  // a no-op without data-hash: the URL it compares has no hash
  w.addEventListener("scroll", scrolled);  // (scroll events cannot be cancelled: no need to say passive)
  ["focus", "blur"].map((e) => w.addEventListener(e, tick));
  d.addEventListener("visibilitychange", tick);
  w.addEventListener("pagehide", stop);
  if (auto) {
    d.addEventListener("click", (ev) => {
      const a = ev.target.closest?.("a[href]"), p = { p: { url: a?.origin + a?.pathname } };  // never the query string
      if (!a) return;
      if (/outbound/.test(auto) && a.host != l.host) send("Outbound", p);
      else if (/downloads/.test(auto) && /\.(pdf|zip|docx?|xlsx?|csv)$/i.test(a.pathname)) send("Download", p);
    }, true);
    if (/forms/.test(auto)) d.addEventListener("submit", (ev) => send("Form", { p: { form: ev.target.id } }), true);
  }
  w.spii = spii;
  pageview();
  queue.forEach((args) => spii(...args));
})(window, document);
