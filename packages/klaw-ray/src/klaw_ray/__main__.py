"""``python -m klaw_ray``: the ``klaw`` command line."""

from __future__ import annotations

import sys

from klaw_ray.cli import main

if __name__ == "__main__":
    sys.exit(main())
