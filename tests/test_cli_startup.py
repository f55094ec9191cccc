"""Each CLI command imports only what it uses: `spii --help` and the file-only commands never
load the web server, the store or the crawler patterns."""

import json
import subprocess
import sys

HEAVY = ("aiohttp", "chdb", "clickhouse_connect", "crawler_user_agents", "ua_parser", "jinja2")
PROBE = """
import io, json, sys, contextlib
from collector import cli
out = io.StringIO()
with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
    try:
        cli.main(sys.argv[1:])
    except SystemExit:
        pass
print(json.dumps(sorted({m.split(".")[0] for m in sys.modules} & set(%r))))
""" % (HEAVY,)


def _heavy_modules(tmp_path, *argv: str) -> list[str]:
    out = subprocess.run([sys.executable, "-c", PROBE, *argv], capture_output=True, text=True, timeout=60,
                         env={"SPII_DATA_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.splitlines()[-1])


def test_help_and_file_commands_stay_light(tmp_path):
    assert _heavy_modules(tmp_path, "--help") == []
    assert _heavy_modules(tmp_path, "clients", "list") == []
    assert _heavy_modules(tmp_path, "keys", "status") == []
    assert _heavy_modules(tmp_path, "report", "--help") == []
