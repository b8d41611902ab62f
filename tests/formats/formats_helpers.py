"""Shared builders for the format tests: tiny image files, approximate set comparison."""

from __future__ import annotations

import math
import struct
import zlib
from pathlib import Path
from typing import Any

from vstore.formats import AnnotationSet, ImageAnnotations, Rle, Shape


def png_bytes(width: int, height: int) -> bytes:
    """A valid (1-bit, blank) PNG of the given size."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    row = b"\x00" + b"\x00" * ((width + 7) // 8)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(row * height))
        + chunk(b"IEND", b"")
    )


def write_png(path: Path, width: int, height: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(png_bytes(width, height))
    return path


def flat_coords(shape: Shape) -> list[float]:
    c = shape.coords
    if c is None:
        return []
    if isinstance(c, Rle):
        return [float(v) for v in c.size]
    if isinstance(c, tuple):
        return [float(v) for v in c]
    return [float(v) for p in c for v in p]


def assert_sets_close(
    got: AnnotationSet, want: AnnotationSet, tol: float, *, ids: bool = False
) -> None:
    """Compare two sets: labels, images, shapes; coordinates within ``tol`` pixels."""
    assert got.labels == want.labels
    assert [im.filename for im in got.images] == [im.filename for im in want.images]
    for g, w in zip(got.images, want.images, strict=True):
        assert_images_close(g, w, tol, ids=ids)


def assert_images_close(
    got: ImageAnnotations, want: ImageAnnotations, tol: float, *, ids: bool = False
) -> None:
    assert (got.filename, got.width, got.height) == (want.filename, want.width, want.height)
    assert len(got.shapes) == len(want.shapes), (got.shapes, want.shapes)
    for gs, ws in zip(got.shapes, want.shapes, strict=True):
        assert (gs.kind, gs.label, gs.text, gs.attributes) == (
            ws.kind,
            ws.label,
            ws.text,
            ws.attributes,
        ), (gs, ws)
        if ids:
            assert gs.id == ws.id
        if ws.score is None:
            assert gs.score is None
        else:
            assert gs.score is not None and math.isclose(gs.score, ws.score, abs_tol=1e-6)
        g, w = flat_coords(gs), flat_coords(ws)
        assert len(g) == len(w), (gs, ws)
        assert all(math.isclose(a, b, abs_tol=tol) for a, b in zip(g, w, strict=True)), (gs, ws)


def shapes_by_kind(aset: AnnotationSet) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for image in aset.images:
        for shape in image.shapes:
            out.setdefault(shape.kind, []).append(shape)
    return out
