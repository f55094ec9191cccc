"""spii: a privacy-preserving web-analytics collector."""

import os as _os

if _os.environ.get("SPII_PURE_PYTHON") == "1":  # the hot path as plain Python, even where it is compiled
    from collector.build_info import prefer_source as _prefer_source

    _prefer_source()
