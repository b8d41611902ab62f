"""Property tests: random annotation sets survive each format; damaged files fail cleanly."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from formats_helpers import assert_images_close, assert_sets_close, png_bytes
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vstore.errors import FormatError
from vstore.formats import (
    AnnotationSet,
    ImageAnnotations,
    Shape,
    read_coco,
    read_voc,
    read_voc_dir,
    read_yolo,
    write_coco,
    write_voc,
    write_voc_dir,
    write_yolo,
)

SETTINGS = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
WORDS = st.text(
    st.sampled_from("abcdefghijklmnopqrstuvwxyzÉéß漢字0123456789_-"), min_size=1, max_size=8
)
TEXT = (
    st.text(st.sampled_from("abc XYZ 123 ü!?<>&\"'"), min_size=1, max_size=12)
    .map(str.strip)
    .filter(bool)
)


@st.composite
def shapes(
    draw: st.DrawFn, labels: list[str], width: int, height: int, kinds: list[str], rich: str
) -> Shape:
    kind = draw(st.sampled_from(kinds))
    label = draw(st.sampled_from(labels))

    def xy() -> tuple[float, float]:
        return (draw(st.floats(0, width)), draw(st.floats(0, height)))

    coords: Any = None
    if kind == "rectangle":
        x, y = xy()
        coords = (x, y, draw(st.floats(0, width - x)), draw(st.floats(0, height - y)))
    elif kind == "polygon":
        coords = [xy() for _ in range(draw(st.integers(3, 6)))]
    elif kind == "keypoints":
        coords = [(*xy(), draw(st.integers(0, 2))) for _ in range(draw(st.integers(1, 4)))]
    score = draw(st.none() | st.floats(0, 1))
    if rich == "none":
        return Shape(kind, label, coords, score)
    attributes: dict[str, Any] = draw(st.dictionaries(WORDS.map("a_{}".format), TEXT, max_size=2))
    if rich == "voc":
        attributes.update(
            draw(
                st.fixed_dictionaries(
                    {},
                    optional={
                        "difficult": st.just(1),
                        "truncated": st.just(1),
                        "occluded": st.just(1),
                        "pose": st.sampled_from(["Left", "Right", "Frontal"]),
                    },
                )
            )
        )
    else:
        attributes.update(
            draw(
                st.fixed_dictionaries(
                    {},
                    optional={
                        "iscrowd": st.just(1),
                        "n": st.integers(-5, 5),
                        "flag": st.booleans(),
                    },
                )
            )
        )
    return Shape(kind, label, coords, score, draw(st.none() | TEXT), attributes)


@st.composite
def annotation_sets(draw: st.DrawFn, kinds: list[str], rich: str) -> AnnotationSet:
    labels = draw(st.lists(WORDS, min_size=1, max_size=4, unique=True))
    images = []
    for i in range(draw(st.integers(0, 4))):
        width, height = draw(st.integers(1, 5000)), draw(st.integers(1, 5000))
        folder = draw(st.sampled_from(["", "sub/"]))
        items = draw(st.lists(shapes(labels, width, height, kinds, rich), max_size=5))
        images.append(ImageAnnotations(f"{folder}img{i}.jpg", width, height, items))
    return AnnotationSet(labels=labels, images=images)


@SETTINGS
@given(annotation_sets(["rectangle", "polygon", "keypoints", "classification"], "coco"))
def test_coco_round_trip(aset: AnnotationSet) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        first = write_coco(aset, Path(tmp) / "a.json")
        got = read_coco(first)
        assert_sets_close(got, aset, 1e-4)
        again = write_coco(got, Path(tmp) / "b.json")
        assert json.loads(again.read_text()) == json.loads(first.read_text())


@SETTINGS
@given(annotation_sets(["rectangle", "polygon"], "none"))
def test_yolo_round_trip(aset: AnnotationSet) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        write_yolo(aset, tmp)
        sizes = {im.filename: (im.width or 0, im.height or 0) for im in aset.images}
        got = read_yolo(tmp, image_sizes=sizes) if aset.images else None
    if got is None:
        return
    order = sorted(range(len(aset.images)), key=lambda i: aset.images[i].filename)
    for image, i in zip(got.images, order, strict=True):
        want = aset.images[i]
        want.filename = want.filename.rsplit(".", 1)[0]
        assert_images_close(image, want, 1e-3)


@SETTINGS
@given(annotation_sets(["rectangle", "polygon", "classification"], "voc"))
def test_voc_round_trip(aset: AnnotationSet) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        if not aset.images:
            return
        write_voc_dir(aset, tmp)
        got = read_voc_dir(tmp)
    want = sorted(aset.images, key=lambda im: im.filename.rsplit(".", 1)[0] + ".xml")
    for image, expected in zip(got.images, want, strict=True):
        assert_images_close(image, expected, 1e-4)


# --- mutation fuzzing: damaged files raise FormatError and nothing else --------------------------

TOKENS = {
    "json": [
        b"-1",
        b"null",
        b"[]",
        b"{}",
        b'"',
        b"1e999",
        b"NaN",
        b"0.5",
        b",",
        b":",
        b"\\u0000",
        b'"../x"',
        b"true",
    ],
    "xml": [
        b"<",
        b">",
        b"&",
        b"&amp;",
        b"<!DOCTYPE a [<!ENTITY e 'x'>]>",
        b"</object>",
        b"<object>",
        b"-5",
        b"nan",
        b"<polygon>",
        b"\x00",
    ],
    "yaml": [
        b":",
        b"- ",
        b"{",
        b"&a ",
        b"*a",
        b"!!python/object:os.system",
        b"\n",
        b"names",
        b"[",
        b"'",
    ],
    "txt": [b" ", b"\n", b"-", b"1e9", b"nan", b"9", b".", b"0"],
}


@st.composite
def mutations(draw: st.DrawFn, blob: bytes, kind: str) -> bytes:
    data = bytearray(blob)
    for _ in range(draw(st.integers(1, 5))):
        op = draw(st.sampled_from(["flip", "delete", "insert", "truncate"]))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if op == "flip" and data:
            data[at] = draw(st.integers(0, 255))
        elif op == "delete":
            del data[at : at + draw(st.integers(1, 8))]
        elif op == "insert":
            data[at:at] = draw(st.sampled_from(TOKENS[kind]) | st.binary(min_size=1, max_size=3))
        else:
            del data[at:]
    return bytes(data)


def sample_set() -> AnnotationSet:
    return AnnotationSet(
        ["car", "person"],
        [
            ImageAnnotations(
                "a.png",
                64,
                48,
                [
                    Shape("rectangle", "car", (1, 2, 30, 40), 0.5, "t", {"difficult": 1, "k": "v"}),
                    Shape("polygon", "person", [(0, 0), (10, 0), (10, 10)]),
                    Shape("classification", "car"),
                ],
            )
        ],
    )


def check_reader(read: Callable[[], object]) -> None:
    try:
        read()
    except FormatError as e:
        assert e.path is not None, e


FUZZ = settings(SETTINGS, max_examples=250)


@pytest.fixture(scope="module")
def coco_blob() -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        return write_coco(sample_set(), Path(tmp) / "a.json", indent=1).read_bytes()


@pytest.fixture(scope="module")
def voc_blob() -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        return write_voc(sample_set().images[0], Path(tmp) / "a.xml").read_bytes()


@FUZZ
@given(data=st.data())
def test_damaged_coco_raises_only_format_error(coco_blob: bytes, data: st.DataObject) -> None:
    blob = data.draw(mutations(coco_blob, "json"))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "a.json"
        path.write_bytes(blob)
        check_reader(lambda: read_coco(path))


@FUZZ
@given(data=st.data())
def test_damaged_voc_raises_only_format_error(voc_blob: bytes, data: st.DataObject) -> None:
    blob = data.draw(mutations(voc_blob, "xml"))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "a.xml"
        path.write_bytes(blob)
        check_reader(lambda: read_voc(path, image_dir=tmp))


@FUZZ
@given(data=st.data(), target=st.sampled_from(["data.yaml", "a.txt", "a.png"]))
def test_damaged_yolo_raises_only_format_error(data: st.DataObject, target: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        write_yolo(sample_set(), tmp, unsupported="skip")
        Path(tmp, "a.png").write_bytes(png_bytes(64, 48))
        path = Path(tmp, target)
        kind = {"data.yaml": "yaml", "a.txt": "txt", "a.png": "txt"}[target]
        path.write_bytes(data.draw(mutations(path.read_bytes(), kind)))
        check_reader(lambda: read_yolo(tmp))
        check_reader(lambda: read_yolo(tmp, normalized=True))
