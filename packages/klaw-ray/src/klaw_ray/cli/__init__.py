"""The ``klaw`` application: ``klaw demo``, ``klaw bench``, ``klaw config``, ``klaw wire``.

A program built on the library, not part of it: nothing in :mod:`klaw_ray` imports this
package. :func:`main` is the ``klaw`` console script and ``python -m klaw_ray``.
"""

from __future__ import annotations

from klaw_ray.cli._main import main

__all__ = ["main"]
