"""Every klaw-config test starts from an environment without ``KLAW_*`` variables."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True, scope="module")
def _no_klaw_variables_from_the_host() -> Iterator[None]:
    """Remove the host's ``KLAW_*`` variables for each test module, and restore them after.

    Module-scoped, not function-scoped, so that Hypothesis tests may run under it; tests
    that set variables use ``monkeypatch``, which undoes them after each test.
    """
    with pytest.MonkeyPatch.context() as patch:
        for name in list(os.environ):
            if name.startswith("KLAW_"):
                patch.delenv(name)
        yield
