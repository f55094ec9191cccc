"""GET /js/spii.js: gzip when accepted, ETag and 304, cache headers, content type."""

import gzip

from collector.http.tracker import TRACKER
from tests.tracker.test_size import LIMIT


def test_tracker_is_served_compressed_cached_and_revalidated(collector):
    collector.start()
    status, headers, body = collector.request("GET", "/js/spii.js", headers={"Accept-Encoding": "gzip, br"})
    assert status == 200 and headers["content-encoding"] == "gzip" and gzip.decompress(body) == TRACKER
    assert len(body) <= LIMIT
    assert headers["content-type"].startswith("text/javascript") and "max-age" in headers["cache-control"]
    etag = headers["etag"]
    status, headers, body = collector.request("GET", "/js/spii.js", headers={"Accept-Encoding": "identity"})
    assert status == 200 and body == TRACKER and "content-encoding" not in headers and headers["etag"] == etag
    status, _, body = collector.request("GET", "/js/spii.js", headers={"If-None-Match": etag})
    assert status == 304 and body == b""
