"""Helpers of the CLI tests (imported by the test modules and conftest)."""

from __future__ import annotations

import json
import struct
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from click.testing import Result

from vstore.cli.schemas import check

Run = Callable[..., Result]


def write_png(path: Path, width: int, height: int, rgb: tuple[int, int, int] = (128, 32, 32)
              ) -> Path:
    """A real (tiny) PNG file."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    raw = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
                     + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
    return path


def run_json(run: Run, schema: str, *args: str) -> Any:
    """Run with ``--json``, check the output against the command's schema, return it."""
    result = run(*args, "--json")
    data = json.loads(result.stdout)
    problems = check(schema, data)
    assert not problems, problems
    return data
