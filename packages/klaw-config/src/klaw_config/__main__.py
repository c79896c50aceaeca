"""Entry point of ``python -m klaw_config``; the command line lives in :mod:`klaw_config.cli`."""

from __future__ import annotations

import sys

from klaw_config.cli import main

if __name__ == "__main__":
    sys.exit(main())
