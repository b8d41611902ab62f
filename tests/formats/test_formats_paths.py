"""Name checks, atomic writes and image header sizes shared by every format."""

from __future__ import annotations

import os
import struct
from pathlib import Path

import pytest
from formats_helpers import png_bytes

from vstore.errors import FormatError
from vstore.formats import UnsafePathError, image_size
from vstore.formats.paths import atomic_write, check_name, safe_join, write_files


@pytest.mark.parametrize("name", ["a.jpg", "sub/dir/a.jpg", "a..b.jpg", "..a.jpg", "a b.png"])
def test_names_inside_the_folder_pass(name: str) -> None:
    assert check_name(name, what="name", source=None) == name


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("../a.jpg", "'..' segment"),
        ("a/../../b", "'..' segment"),
        ("a\\..\\b", "'..' segment"),
        ("/abs.jpg", "absolute"),
        ("\\\\server\\x", "absolute"),
        ("D:x.jpg", "absolute"),
        ("a\x00b.jpg", "NUL"),
    ],
)
def test_names_leaving_the_folder_are_refused(name: str, reason: str) -> None:
    with pytest.raises(UnsafePathError, match=reason) as err:
        check_name(name, what="COCO file_name", source="x.json", line=7)
    assert str(err.value).startswith("x.json:7: COCO file_name")


@pytest.mark.parametrize("name", ["", "  ", None, 3])
def test_empty_or_non_string_names_are_format_errors(name: object) -> None:
    with pytest.raises(FormatError, match="non-empty string"):
        check_name(name, what="name", source=None)


def test_symlink_out_of_the_root_is_refused(tmp_path: Path) -> None:
    (tmp_path / "root").mkdir()
    os.symlink(tmp_path, tmp_path / "root" / "up")
    with pytest.raises(UnsafePathError, match="outside"):
        safe_join(tmp_path / "root", "up/x.txt", what="label", source=None)
    assert safe_join(tmp_path / "root", "in/x.txt", what="label", source=None) == (
        tmp_path / "root" / "in" / "x.txt"
    )


def test_write_files_writes_nothing_when_one_name_is_unsafe(tmp_path: Path) -> None:
    with pytest.raises(UnsafePathError):
        write_files(tmp_path, {"a.txt": b"a", "../b.txt": b"b"}, what="file")
    assert list(tmp_path.iterdir()) == []
    written = write_files(tmp_path, {"a.txt": b"a", "d/b.txt": b"b"}, what="file")
    assert [p.read_bytes() for p in written] == [b"a", b"b"]


def test_atomic_write_replaces_whole_and_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "f.json"
    target.write_text("old")
    atomic_write(target, b"new")
    assert target.read_bytes() == b"new"
    assert [p.name for p in tmp_path.iterdir()] == ["f.json"]


def jpeg_bytes(width: int, height: int) -> bytes:
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00" + b"\x00" * 9
    sof = b"\xff\xc2" + struct.pack(">HBHHB", 11, 8, height, width, 1) + b"\x01\x11\x00"
    return b"\xff\xd8" + app0 + sof + b"\xff\xd9"


@pytest.mark.parametrize(
    ("data", "size"),
    [
        (png_bytes(640, 480), (640, 480)),
        (jpeg_bytes(1920, 1080), (1920, 1080)),
        (b"GIF89a" + struct.pack("<HH", 33, 44) + b"\x00" * 20, (33, 44)),
        (b"BM" + b"\x00" * 16 + struct.pack("<ii", 300, -200) + b"\x00" * 10, (300, 200)),
        (
            b"RIFF\x00\x00\x00\x00WEBPVP8X"
            + b"\x00" * 8
            + (99).to_bytes(3, "little")
            + (49).to_bytes(3, "little")
            + b"\x00" * 4,
            (100, 50),
        ),
        (
            b"RIFF\x00\x00\x00\x00WEBPVP8 "
            + b"\x00" * 10
            + struct.pack("<HH", 64, 32)
            + b"\x00" * 4,
            (64, 32),
        ),
        (b"not an image at all", None),
        (b"\xff\xd8\xff", None),
    ],
)
def test_image_size_from_header(tmp_path: Path, data: bytes, size: tuple[int, int] | None) -> None:
    path = tmp_path / "img"
    path.write_bytes(data)
    assert image_size(path) == size


def test_image_size_of_missing_file_is_none(tmp_path: Path) -> None:
    assert image_size(tmp_path / "nope.png") is None


def test_readers_and_writers_leave_the_garbage_collector_as_they_found_it(
    tmp_path: Path,
) -> None:
    import gc

    from vstore.formats import AnnotationSet, read_coco, write_coco

    assert gc.isenabled()
    write_coco(AnnotationSet(), tmp_path / "a.json")
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(FormatError):
        read_coco(tmp_path / "bad.json")
    assert gc.isenabled()
    gc.disable()
    try:
        read_coco(tmp_path / "a.json")
        assert not gc.isenabled()
    finally:
        gc.enable()
