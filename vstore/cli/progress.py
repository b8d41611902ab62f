"""Progress bars on stderr, one per named phase (tqdm, imported only when a bar is shown)."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["Bar", "Progress"]


class Bar:
    """One phase's bar; every method is a no-op when bars are off."""

    def __init__(self, impl: Any = None) -> None:
        self._impl = impl

    def update(self, n: int = 1) -> None:
        """Advance by ``n``."""
        if self._impl is not None:
            self._impl.update(n)

    def set_total(self, total: int | None) -> None:
        """Set (or change) the number of steps."""
        if self._impl is not None:
            self._impl.total = total
            self._impl.refresh()

    def set_done(self, done: int) -> None:
        """Move to ``done`` steps."""
        if self._impl is not None:
            self._impl.update(done - self._impl.n)

    def note(self, text: str) -> None:
        """Show ``text`` after the bar."""
        if self._impl is not None:
            self._impl.set_postfix_str(text, refresh=True)


class Progress:
    """Makes bars for named phases.

    Args:
        enabled: show bars at all.
    """

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    @contextmanager
    def phase(
        self, name: str, total: int | None = None, unit: str = "it", bytes_: bool = False
    ) -> Iterator[Bar]:
        """A bar for one phase, closed (and left on screen) when the block ends.

        Args:
            name: the phase, shown first (``hash``, ``upload``, ``commit``...).
            total: the number of steps, or None for a phase that only shows elapsed time.
            unit: what a step is.
            bytes_: steps are bytes (shown as KiB, MiB...).
        """
        if not self.enabled:
            yield Bar()
            return
        from tqdm import tqdm  # type: ignore[import-untyped, unused-ignore]

        fmt = None if total is not None else "{desc}: {n_fmt} {unit} [{elapsed}]"
        if total is None and unit == "it":
            fmt = "{desc}: [{elapsed}]"
        impl = tqdm(
            total=total, desc=name, unit="B" if bytes_ else unit, unit_scale=bytes_,
            unit_divisor=1024 if bytes_ else 1000, file=sys.stderr, dynamic_ncols=True,
            leave=True, bar_format=fmt, mininterval=0.1,
        )
        stop = threading.Event()
        ticker = None
        if total is None:
            # A phase without steps still shows it is alive: refresh the elapsed time.
            def tick() -> None:
                while not stop.wait(0.25):
                    impl.refresh()

            ticker = threading.Thread(target=tick, daemon=True)
            ticker.start()
        try:
            yield Bar(impl)
        finally:
            stop.set()
            if ticker is not None:
                ticker.join()
            impl.close()
