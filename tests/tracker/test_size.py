"""The tracker stays tiny and the committed minified copy matches its readable source."""

import gzip
import hashlib
from pathlib import Path

STATIC = Path(__file__).resolve().parents[2] / "collector" / "http" / "static"
LIMIT = 1280  # bytes gzipped (with engagement: time on page, scroll depth); Plausible's official tracker package is 2,696


def test_served_tracker_is_at_most_1280_bytes_gzipped():
    minified = (STATIC / "spii.min.js").read_bytes()
    size = len(gzip.compress(minified, 9, mtime=0))
    print(f"spii.min.js: {len(minified)} bytes, {size} gzipped (limit {LIMIT})")
    assert size <= LIMIT


def test_minified_copy_was_made_from_the_current_source():
    recorded = (STATIC / "spii.min.js.source-sha256").read_text().strip()
    assert recorded == hashlib.sha256((STATIC / "spii.js").read_bytes()).hexdigest(), \
        "spii.js changed: run scripts/minify-tracker.sh and commit spii.min.js"
