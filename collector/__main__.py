"""`python -m collector` is the `spii` command."""

import sys

from collector.cli import main

sys.exit(main())
