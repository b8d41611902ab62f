"""How big the reliability tests run: CI size by default, nightly size on request.

``VSTORE_RELIABILITY_SCALE=10 python -m pytest tests/reliability`` (or ``make reliability``)
multiplies every count (kill points, kills, writers' flushes, fuzz examples) by the factor.
"""

from __future__ import annotations

import os

SCALE = max(1, int(os.environ.get("VSTORE_RELIABILITY_SCALE", "1")))


def scaled(n: int) -> int:
    """``n`` at CI size, times the scale factor."""
    return n * SCALE
