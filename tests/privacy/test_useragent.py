import pytest
from crawleruseragents import CRAWLER_USER_AGENTS_DATA

from collector.privacy.useragent import is_bot, parse_user_agent

CHROME_WIN = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
SAFARI_IPHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1"
SAFARI_IPAD = "Mozilla/5.0 (iPad; CPU OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1"
ANDROID_TABLET = "Mozilla/5.0 (Linux; Android 14; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
ANDROID_PHONE = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36"
FIREFOX_MAC = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14.1; rv:132.0) Gecko/20100101 Firefox/132.0"


@pytest.mark.parametrize(
    "ua,browser,version,os,device",
    [
        (CHROME_WIN, "Chrome", "131", "Windows", "desktop"),
        (SAFARI_IPHONE, "Mobile Safari", "17", "iOS", "mobile"),
        (SAFARI_IPAD, "Mobile Safari", "17", "iOS", "tablet"),
        (ANDROID_TABLET, "Chrome", "131", "Android", "tablet"),
        (ANDROID_PHONE, "Chrome Mobile", "131", "Android", "mobile"),
        (FIREFOX_MAC, "Firefox", "132", "Mac OS X", "desktop"),
    ],
)
def test_browsers(ua, browser, version, os, device):
    info = parse_user_agent(ua)
    assert (info.browser, info.browser_version, info.os, info.device, info.is_bot) == (browser, version, os, device, False)
    assert ua not in info.coarse_key


@pytest.mark.parametrize(
    "ua",
    [
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0.0.0 Safari/537.36",
        "Python/3.11 aiohttp/3.9.1",
        "Python-urllib/3.11",
        "python-requests/2.31",
        "curl/8.5.0",
        "",
        "Mozilla/5.0",
        "x" * 5000,
        "Mozilla/5.0 \x00 evil",
    ],
)
def test_bots(ua):
    assert is_bot(ua)
    assert parse_user_agent(ua).device == "bot"


def test_every_crawler_user_agents_instance_is_a_bot():
    instances = [i for entry in CRAWLER_USER_AGENTS_DATA for i in entry.get("instances", [])]
    assert len(instances) > 1000
    missed = [i for i in instances if not is_bot(i)]
    assert missed == []


def test_real_browsers_are_not_bots():
    for ua in (CHROME_WIN, SAFARI_IPHONE, SAFARI_IPAD, ANDROID_TABLET, ANDROID_PHONE, FIREFOX_MAC):
        assert not is_bot(ua)
