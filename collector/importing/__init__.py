"""Imports: web server access logs (logformat.py reads a line, weblog.py imports them)."""
