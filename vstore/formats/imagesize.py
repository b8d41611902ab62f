"""Image sizes from file headers (PNG, JPEG, GIF, BMP, WebP), without decoding pixels.

Used where a format needs the image size and the annotation file lacks it: a Pascal VOC file
without ``<size>``, YOLO's normalized coordinates.
"""

from __future__ import annotations

import os
import struct
from typing import BinaryIO

__all__ = ["IMAGE_EXTENSIONS", "image_size"]

IMAGE_EXTENSIONS = frozenset(
    (".bmp", ".gif", ".jpeg", ".jpg", ".png", ".tif", ".tiff", ".webp", ".dng", ".mpo", ".pfm")
)
"""File name extensions taken for images when a folder is scanned (lower case)."""

# JPEG start-of-frame markers (baseline, progressive, lossless, ...): not C4, C8 or CC.
_SOF = frozenset((0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF))


def image_size(path: str | os.PathLike[str]) -> tuple[int, int] | None:
    """Return ``(width, height)`` read from an image file's header.

    Args:
        path: the image file.

    Returns:
        The size, or ``None`` when the file is missing, unreadable, or of another format.
    """
    try:
        with open(path, "rb") as f:
            head = f.read(32)
            size = _header_size(head)
            if size is None and head[:2] == b"\xff\xd8":
                f.seek(2)
                size = _jpeg_size(f)
    except (OSError, struct.error):
        return None
    if size is None or size[0] <= 0 or size[1] <= 0:
        return None
    return size


def _header_size(head: bytes) -> tuple[int, int] | None:
    if head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR":
        w, h = struct.unpack(">II", head[16:24])
        return int(w), int(h)
    if head[:6] in (b"GIF87a", b"GIF89a"):
        w, h = struct.unpack("<HH", head[6:10])
        return int(w), int(h)
    if head[:2] == b"BM":
        w, h = struct.unpack("<ii", head[18:26])
        return int(w), abs(int(h))
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return _webp_size(head)
    return None


def _webp_size(head: bytes) -> tuple[int, int] | None:
    chunk = head[12:16]
    if chunk == b"VP8 ":
        w, h = struct.unpack("<HH", head[26:30])
        return int(w) & 0x3FFF, int(h) & 0x3FFF
    if chunk == b"VP8L":
        bits = int.from_bytes(head[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X":
        return int.from_bytes(head[24:27], "little") + 1, int.from_bytes(head[27:30], "little") + 1
    return None


def _jpeg_size(f: BinaryIO) -> tuple[int, int] | None:
    while True:
        byte = f.read(1)
        while byte and byte != b"\xff":
            byte = f.read(1)
        while byte == b"\xff":
            byte = f.read(1)
        if not byte:
            return None
        marker = byte[0]
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            continue
        length = struct.unpack(">H", f.read(2))[0]
        if marker in _SOF:
            h, w = struct.unpack(">xHH", f.read(5))
            return int(w), int(h)
        f.seek(length - 2, os.SEEK_CUR)
