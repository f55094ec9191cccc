import pytest
from hypothesis import given
from hypothesis import strategies as st

from collector.privacy.url import referrer_host, referrer_source, scrub_text, scrub_url


def test_keeps_host_and_path_drops_query_fragment_credentials_port():
    out = scrub_url("https://user:secret@Shop.Example.com:8443/a/b?session=abc&q=x#frag")
    assert out.host == "shop.example.com"
    assert out.path == "/a/b"
    assert out.query == "" and out.utm == {}


def test_keeps_utm_and_allow_listed_params():
    out = scrub_url(
        "https://example.com/p?utm_source=news&utm_medium=email&utm_campaign=nov&utm_term=t&utm_content=c&lang=en&id=7",
        allow_params=frozenset({"lang"}),
    )
    assert out.utm == {"utm_source": "news", "utm_medium": "email", "utm_campaign": "nov", "utm_term": "t", "utm_content": "c"}
    assert out.query == "lang=en"


@pytest.mark.parametrize(
    "path,expected",
    [
        ("/users/jane.doe@example.com/profile", "/users/:email/profile"),
        ("/users/jane.doe%40example.com", "/users/:email"),
        ("/orders/123456789", "/orders/:num"),
        ("/orders/12345678", "/orders/12345678"),
        ("/invoice-4111111111111111.pdf", "/:num"),
        ("/item/550e8400-e29b-41d4-a716-446655440000", "/item/:id"),
        ("/reset/aB3dE5fG7hJ9kL1mN3pQ5rS7", "/reset/:id"),
        ("/blog/how-to-write-a-long-readable-slug", "/blog/how-to-write-a-long-readable-slug"),
        ("", "/"),
    ],
)
def test_path_placeholders(path, expected):
    assert scrub_url("https://example.com" + path).path == expected


def test_utm_values_are_scrubbed_too():
    out = scrub_url("https://example.com/?utm_source=jane@example.com&utm_campaign=123456789012")
    assert out.utm == {"utm_source": ":email", "utm_campaign": ":num"}


def test_hash_routing_keeps_the_route_only_when_asked():
    url = "https://app.example.com/#/orders/123456789?token=x"
    assert scrub_url(url).path == "/"
    assert scrub_url(url, hash_routing=True).path == "/#/orders/:num"
    assert scrub_url("https://app.example.com/#section-2", hash_routing=True).path == "/"


@pytest.mark.parametrize("bad", ["", "/relative", "javascript:alert(1)", "ftp://example.com/", "https://", "http://[::1", "x" * 5000, None])
def test_invalid_urls(bad):
    assert scrub_url(bad) is None


def test_lengths_are_capped():
    out = scrub_url("https://example.com/" + "/".join(["segment" * 30] * 15))
    assert len(out.path) <= 512


@pytest.mark.parametrize(
    "ref,host,source",
    [
        ("https://www.google.co.uk/search?q=secret", "google.co.uk", "Google"),
        ("https://www.bing.com/", "bing.com", "Bing"),
        ("https://duckduckgo.com/?q=x", "duckduckgo.com", "DuckDuckGo"),
        ("https://l.facebook.com/l.php?u=x", "l.facebook.com", "Facebook"),
        ("https://t.co/abc", "t.co", "Twitter"),
        ("https://news.ycombinator.com/item?id=1", "news.ycombinator.com", "Hacker News"),
        ("https://blog.example.org/post?id=9", "blog.example.org", "blog.example.org"),
        ("", "", ""),
        ("not a url", "", ""),
        (None, "", ""),
    ],
)
def test_referrer_host_and_source(ref, host, source):
    assert referrer_host(ref) == host
    assert referrer_source(host) == source


@given(st.emails())
def test_emails_never_survive_in_paths(email):
    out = scrub_url(f"https://example.com/u/{email}/x")
    if out is not None:
        assert email not in out.path and email.split("@")[0] + "@" not in out.path


@given(st.text(max_size=200))
def test_scrub_url_never_raises(text):
    scrub_url("https://example.com/" + text)
    scrub_url(text)
    referrer_host(text)
    scrub_text(text)
