"""Per-client statistical reports: periods, filters and metrics turned into ClickHouse SQL
(query.py), small-count suppression (suppression.py), and the stats service both the HTTP API
and the dashboard use (stats.py)."""
