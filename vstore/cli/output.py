"""Terminal output: colour rules, aligned tables, JSON, and human-readable sizes and times.

Results go to stdout; progress, notes and hints go to stderr. Colour is used only when
the stream is a terminal (or ``--color always``), and never when ``NO_COLOR`` is set.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
from collections.abc import Sequence
from typing import IO, Any

import click

__all__ = [
    "ago",
    "color_wanted",
    "dumps",
    "human_bytes",
    "iso",
    "plural",
    "short",
    "stream_color",
    "table",
]


def color_wanted(mode: str, stream: IO[str]) -> bool:
    """Whether to colour ``stream``: ``NO_COLOR`` wins, then ``always``/``never``, else a tty."""
    if os.environ.get("NO_COLOR"):
        return False
    if mode == "always":
        return True
    if mode == "never":
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def stream_color(stream: IO[str]) -> bool:
    """Colour for ``stream`` under the mode of the running command (auto outside one)."""
    ctx = click.get_current_context(silent=True)
    mode = "auto"
    if ctx is not None and ctx.obj is not None:
        mode = getattr(ctx.obj, "color_mode", "auto")
    return color_wanted(mode, stream)


def dumps(data: Any) -> str:
    """The JSON text of ``data``: indented, keys in schema order, non-ASCII kept."""
    return json.dumps(data, indent=2, ensure_ascii=False, default=_default)


def _default(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, _dt.datetime):
        return value.isoformat()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def iso(ts: float | None) -> str | None:
    """A unix time as an ISO-8601 string in UTC (None stays None)."""
    if ts is None:
        return None
    return _dt.datetime.fromtimestamp(ts, _dt.UTC).isoformat(timespec="seconds")


def ago(ts: float | None) -> str:
    """A unix time as "5 minutes ago"."""
    if ts is None:
        return "-"
    import time

    secs = max(0.0, time.time() - ts)
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if secs >= size:
            n = int(secs // size)
            return f"{n} {unit}{'s' if n != 1 else ''} ago"
    return "just now"


def human_bytes(n: int) -> str:
    """``1536`` -> ``1.5 KiB``."""
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def plural(n: int, word: str) -> str:
    """``1 frame``, ``2 frames``, ``1,000 frames``."""
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def short(hex_id: str | None, n: int = 12) -> str:
    """The first ``n`` characters of an id."""
    return (hex_id or "-")[:n]


def table(rows: Sequence[Sequence[str]], headers: Sequence[str] | None = None) -> list[str]:
    """Rows as left-aligned columns separated by two spaces (the last column unpadded)."""
    all_rows = [list(headers)] if headers else []
    all_rows += [list(r) for r in rows]
    if not all_rows:
        return []
    widths = [max(len(_plain(r[i])) for r in all_rows) for i in range(len(all_rows[0]))]
    out = []
    for r in all_rows:
        cells = [c + " " * (widths[i] - len(_plain(c))) for i, c in enumerate(r[:-1])]
        out.append("  ".join([*cells, r[-1]]).rstrip())
    return out


def _plain(text: str) -> str:
    return click.unstyle(text)
