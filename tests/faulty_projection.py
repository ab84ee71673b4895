"""A deployment's own read model that fails on a marked event until it is fixed: how the tests
make a projection handler fail inside the real service (GOVSHARE_EXTRA_PROJECTIONS)."""
from __future__ import annotations

import os
from pathlib import Path

MARK = "FAIL-ME"


def project(event, tx) -> None:
    """Raises for an entry whose title carries the mark, until the file named by
    GOVSHARE_TEST_FIXED exists (the 'fix')."""
    attributes = getattr(event.payload, "attributes", None)
    if attributes is not None and MARK in attributes.title and not Path(os.environ["GOVSHARE_TEST_FIXED"]).exists():
        raise RuntimeError(f"this read model cannot take {event.envelope.aggregate_id} yet")
