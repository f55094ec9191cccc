"""Acquisition channels, as Plausible defines them after Google Analytics 4's default channel
groups: a visit's channel (Organic Search, Paid Social, Email, Referral, Direct, ...) from its
source, UTM medium, campaign and source. Derived once, in ClickHouse, where the visit's source is
stored: ``spii.events.channel`` is a MATERIALIZED column of this expression (sql/010_channel.sql,
sql/cluster/007_channel.sql mark where it goes), so every row gets its channel at insert, and rows
stored before the column get theirs from the same expression when read.

The source categories are spii's own lists of well-known sites by kind (lower-cased source names
as spii's referrer classification gives them: ``google``, ``hacker news``, ...). The rules and
their order follow GA4's published channel definitions, with Plausible's additions (AI assistants,
paid sources named in utm_source). Click ids (gclid, msclkid) are scrubbed from URLs at ingest, so
auto-tagged ads without UTM tags count as organic here."""

from __future__ import annotations

__all__ = ["CHANNELS", "CHANNEL_SQL", "MARK"]

MARK = "/*channel*/"  # where a migration takes CHANNEL_SQL

SEARCH = ["google", "bing", "duckduckgo", "yahoo", "yahoo!", "baidu", "yandex", "ecosia", "brave", "qwant", "startpage", "naver",
          "seznam", "sogou", "ask", "aol", "so.com", "360.cn", "daum", "kagi", "mojeek", "search.brave.com", "yahoo japan"]
SOCIAL = ["facebook", "instagram", "twitter", "x", "x (twitter)", "t.co", "linkedin", "reddit", "pinterest", "tiktok", "hacker news",
          "mastodon", "bluesky", "threads", "tumblr", "vk", "vkontakte", "discord", "telegram", "whatsapp", "slack", "github",
          "producthunt", "product hunt", "quora", "snapchat", "weibo", "wechat", "line", "messenger", "microsoft teams", "lobsters",
          "stack overflow", "stackoverflow", "medium", "substack", "xing", "meetup", "nextdoor", "flipboard"]
VIDEO = ["youtube", "vimeo", "twitch", "dailymotion", "wistia", "rumble", "bilibili"]
EMAIL = ["gmail", "outlook", "outlook.com", "yahoo mail", "mail.yahoo.com", "protonmail", "proton mail", "mail.google.com", "fastmail"]
SHOPPING = ["amazon", "ebay", "etsy", "shopify", "walmart", "aliexpress", "alibaba", "temu", "temu.com", "google shopping", "idealo",
            "rakuten", "zalando", "bol.com"]
AI = ["chatgpt", "chatgpt.com", "openai", "claude", "perplexity", "gemini", "google gemini", "copilot", "deepseek", "phind", "grok",
      "mistral", "le chat", "you.com"]
PAID_SOURCES = ["adwords", "google_ads", "google-ads", "googleads", "gads", "bing_ads", "bing-ads", "microsoft_ads", "facebook_ads",
                "facebook_ad", "fb_ads", "fb_ad", "fbads", "meta_ads", "ig_ads", "instagram_ads", "yt-ads", "youtube_ads",
                "tiktok_ads", "linkedin_ads", "twitter_ads", "x_ads", "reddit_ads", "pinterest_ads", "snapchat_ads"]

_S, _M, _C, _U = "lower(referrer_source)", "lower(utm_medium)", "lower(utm_campaign)", "lower(utm_source)"


def _array(names: list[str]) -> str:
    return "[" + ", ".join("'" + name.replace("'", "\\'") + "'" for name in names) + "]"


def _has(names: list[str], column: str = _S) -> str:
    """SQL: whether ``column`` is one of ``names``."""
    return f"has({_array(names)}, {column})"


_paid_medium = f"match({_M}, '^(.*cp.*|ppc|retargeting|paid.*)$')"
_paid_source = _has(PAID_SOURCES, _U)
_shop_campaign = f"match({_C}, '^(.*(([^a-df-z]|^)shop|shopping).*)$')"
_email_tags = "['email', 'e-mail', 'e_mail', 'e mail', 'newsletter']"
_RULES = [
    (f"position({_C}, 'cross-network') > 0", "Cross-network"),
    (f"({_has(SHOPPING)} OR {_shop_campaign}) AND {_paid_medium}", "Paid Shopping"),
    (f"{_has(SEARCH)} AND ({_paid_medium} OR {_paid_source})", "Paid Search"),
    (f"{_has(SOCIAL)} AND ({_paid_medium} OR {_paid_source})", "Paid Social"),
    (f"{_has(VIDEO)} AND ({_paid_medium} OR {_paid_source})", "Paid Video"),
    (f"{_M} IN ('display', 'banner', 'expandable', 'interstitial', 'cpm')", "Display"),
    (_paid_medium, "Paid Other"),
    (f"{_has(SHOPPING)} OR {_shop_campaign}", "Organic Shopping"),
    (f"{_has(SOCIAL)} OR {_M} IN ('social', 'social-network', 'social-media', 'sm', 'social network', 'social media')", "Organic Social"),
    (f"{_has(VIDEO)} OR position({_M}, 'video') > 0", "Organic Video"),
    (_has(AI), "AI Assistants"),
    (_has(SEARCH), "Organic Search"),
    (f"{_has(EMAIL)} OR multiSearchAny({_U}, {_email_tags}) OR multiSearchAny({_M}, {_email_tags})", "Email"),
    (f"{_M} = 'affiliate'", "Affiliates"),
    (f"{_M} = 'audio'", "Audio"),
    (f"{_U} = 'sms' OR {_M} = 'sms'", "SMS"),
    (f"endsWith({_M}, 'push') OR multiSearchAny({_M}, ['mobile', 'notification']) OR {_S} = 'firebase'", "Mobile Push Notifications"),
    (f"{_M} IN ('referral', 'app', 'link') OR {_S} != ''", "Referral"),
]
CHANNEL_SQL = "multiIf(\n" + ",\n".join(f"        {cond}, '{name}'" for cond, name in _RULES) + ",\n        'Direct')"

CHANNELS = [name for _, name in _RULES] + ["Direct"]
