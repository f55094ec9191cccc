"""URL and referrer scrubbing: keep what a traffic report needs (host, path, campaign tags) and
drop what can identify a person (query strings, fragments, emails or ids in paths, credentials).
"""

from __future__ import annotations

import re
from urllib.parse import quote, unquote, unquote_plus, urlencode, urlsplit

__all__ = ["ScrubbedUrl", "scrub_url", "referrer_host", "referrer_source", "UTM_PARAMS", "scrub_text"]

UTM_PARAMS = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content")
MAX_URL_CHARS = 4096
MAX_HOST_CHARS = 253
MAX_PATH_CHARS = 512
MAX_SEGMENT_CHARS = 100
MAX_PARAM_VALUE_CHARS = 100

_LONG_DIGITS = re.compile(r"\d{9,}")
_UUID = re.compile(r"[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}")
# A token: 20+ URL-safe characters mixing letters and digits (session ids, reset tokens, hashes).
_TOKEN = re.compile(r"(?=[A-Za-z0-9_\-.~]*[0-9])(?=[A-Za-z0-9_\-.~]*[A-Za-z])[A-Za-z0-9_\-.~]{20,}")


def scrub_text(value: str) -> str:
    """One path segment or parameter value -> itself, or a placeholder when it looks personal."""
    if len(value) < 9 and "@" not in value and "%" not in value:
        return value  # too short for any placeholder rule (the shortest, :num, needs 9 digits)
    decoded = unquote(value)
    if "@" in decoded:  # an email or a handle; emails may even contain "/" and span segments
        return ":email"
    if _UUID.search(decoded):
        return ":id"
    if _LONG_DIGITS.search(decoded):
        return ":num"
    if _TOKEN.fullmatch(decoded):
        return ":id"
    return value[:MAX_SEGMENT_CHARS]


def _scrub_path(path: str) -> str:
    segments = [scrub_text(s) if s else s for s in path.split("/")]
    return ("/".join(segments) or "/")[:MAX_PATH_CHARS]


def _kept_params(query: str, allow_params: frozenset[str]) -> list[tuple[str, str]]:
    """UTM and allow-listed (name, value) pairs. Decodes only the pairs it keeps: the rest of a
    query string (session ids, emails, tokens) is never even unquoted."""
    kept = []
    for pair in query.split("&"):
        name, _, value = pair.partition("=")
        if not value:
            continue
        if name.startswith("utm_") or name in allow_params or "%" in name or "+" in name:
            name = unquote_plus(name)
            if name in UTM_PARAMS or name in allow_params:
                kept.append((name, unquote_plus(value)))
    return kept


class ScrubbedUrl:
    """A URL with nothing personal left. (A plain class: compiled, its ``__init__`` is native.)"""

    __slots__ = ("host", "path", "query", "utm")

    def __init__(self, host: str, path: str, query: str = "", utm: dict[str, str] | None = None) -> None:
        self.host = host
        self.path = path  # scrubbed path (plus "#/route" under hash routing)
        self.query = query  # allow-listed, non-UTM parameters, url-encoded
        self.utm: dict[str, str] = {} if utm is None else utm

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ScrubbedUrl) and (self.host, self.path, self.query, self.utm) == (other.host, other.path, other.query, other.utm)

    def __repr__(self) -> str:
        return f"ScrubbedUrl(host={self.host!r}, path={self.path!r}, query={self.query!r}, utm={self.utm!r})"


def _host(netloc_host: str | None) -> str:
    host = (netloc_host or "").strip(".").lower()
    return host[:MAX_HOST_CHARS]


# The same pages are visited over and over: scrubbed results of URLs without a query string or
# fragment are kept (raw URLs with a query may carry personal data and are never cache keys).
# Bounded: cleared when full. Callers must not modify a returned ScrubbedUrl.
CACHE_SIZE = 16_384
_scrubbed: dict[tuple[str, frozenset[str], bool], ScrubbedUrl | None] = {}
_referrers: dict[str, str] = {}


def scrub_url(url: str | None, allow_params: frozenset[str] = frozenset(), hash_routing: bool = False) -> ScrubbedUrl | None:
    """Scrub a page URL; None when it is not an absolute http(s) URL."""
    if not isinstance(url, str) or len(url) > MAX_URL_CHARS:
        return None
    if "?" in url or "#" in url:
        return _scrub_url(url, allow_params, hash_routing)
    key = (url, allow_params, hash_routing)
    found = _scrubbed.get(key, _MISSING)
    if found is _MISSING:
        if len(_scrubbed) >= CACHE_SIZE:
            _scrubbed.clear()
        found = _scrubbed[key] = _scrub_url(url, allow_params, hash_routing)
    return found  # type: ignore[return-value]


_MISSING = object()


def _scrub_url(url: str, allow_params: frozenset[str], hash_routing: bool) -> ScrubbedUrl | None:
    try:
        parts = urlsplit(url.strip())
        hostname = parts.hostname  # drops user:password@ and the port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not hostname:
        return None
    path = _scrub_path(parts.path or "/")
    if hash_routing and parts.fragment[:1] in ("/", "!"):
        route = parts.fragment.split("?", 1)[0]
        path = (path + "#" + _scrub_path(route))[:MAX_PATH_CHARS]
    utm: dict[str, str] = {}
    kept: list[tuple[str, str]] = []
    if parts.query and ("utm_" in parts.query or allow_params):
        for name, value in _kept_params(parts.query, allow_params):
            if name in UTM_PARAMS:
                utm.setdefault(name, scrub_text(value)[:MAX_PARAM_VALUE_CHARS])
            elif name in allow_params:
                kept.append((name, scrub_text(value)[:MAX_PARAM_VALUE_CHARS]))
    return ScrubbedUrl(_host(hostname), path, urlencode(kept, quote_via=quote) if kept else "", utm)


def referrer_host(referrer: str | None) -> str:
    """Host of a referrer URL, lowercase, without ``www.``; '' when absent or not http(s).
    Cached by the part before any query string (which is never a cache key)."""
    if not referrer or len(referrer) > MAX_URL_CHARS:
        return ""
    base = referrer.split("?", 1)[0].split("#", 1)[0]
    host = _referrers.get(base)
    if host is None:
        if len(_referrers) >= CACHE_SIZE:
            _referrers.clear()
        host = _referrers[base] = _referrer_host(base)
    return host


def _referrer_host(referrer: str) -> str:
    try:
        parts = urlsplit(referrer.strip())
        host = parts.hostname
    except ValueError:
        return ""
    if parts.scheme not in ("http", "https", "android-app") or not host:
        return ""
    host = _host(host)
    return host[4:] if host.startswith("www.") else host


# Well-known search engines and social sites, matched on the registrable part of the host.
# Anything else is reported by host only.
_SOURCES: dict[str, str] = {
    "google": "Google", "bing.com": "Bing", "duckduckgo.com": "DuckDuckGo", "yahoo": "Yahoo!",
    "yandex": "Yandex", "baidu.com": "Baidu", "ecosia.org": "Ecosia", "search.brave.com": "Brave",
    "qwant.com": "Qwant", "startpage.com": "Startpage", "kagi.com": "Kagi", "naver.com": "Naver",
    "facebook.com": "Facebook", "fb.com": "Facebook", "instagram.com": "Instagram",
    "t.co": "Twitter", "twitter.com": "Twitter", "x.com": "Twitter", "linkedin.com": "LinkedIn",
    "lnkd.in": "LinkedIn", "reddit.com": "Reddit", "youtube.com": "YouTube", "youtu.be": "YouTube",
    "pinterest": "Pinterest", "tiktok.com": "TikTok", "news.ycombinator.com": "Hacker News",
    "github.com": "GitHub", "mastodon.social": "Mastodon", "bsky.app": "Bluesky",
    "threads.net": "Threads", "whatsapp.com": "WhatsApp", "telegram.org": "Telegram",
    "chatgpt.com": "ChatGPT", "perplexity.ai": "Perplexity",
}
# Brand keys without a TLD match any country domain (google.co.uk, yahoo.co.jp, pinterest.fr).
_BRANDS = {k: v for k, v in _SOURCES.items() if "." not in k}
_DOMAINS = {k: v for k, v in _SOURCES.items() if "." in k}


def referrer_source(host: str) -> str:
    """A source name for a referrer host: the site's name when well known, else the host."""
    if not host:
        return ""
    labels = host.split(".")
    for i in range(len(labels) - 1):
        suffix = ".".join(labels[i:])
        if suffix in _DOMAINS:
            return _DOMAINS[suffix]
    for label in labels[:-1]:
        if label in _BRANDS:
            return _BRANDS[label]
    return host
