"""Pascal VOC: safe parsing, tolerant reading, the full field set on writing."""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from formats_helpers import assert_images_close, write_png

from vstore.errors import FormatError
from vstore.formats import (
    AnnotationSet,
    ImageAnnotations,
    Shape,
    UnsafePathError,
    UnsafeXMLError,
    read_voc,
    read_voc_dir,
    voc_xml,
    write_voc,
    write_voc_dir,
)

LABELIMG = """<annotation>
    <folder>images</folder>
    <filename>dog.jpg</filename>
    <path>/home/me/images/dog.jpg</path>
    <source><database>Unknown</database></source>
    <size><width>500</width><height>375</height><depth>3</depth></size>
    <segmented>0</segmented>
    <object>
        <name>dog</name>
        <pose>Left</pose>
        <truncated>1</truncated>
        <difficult>0</difficult>
        <bndbox><xmin>48</xmin><ymin>240.5</ymin><xmax>195</xmax><ymax>371</ymax></bndbox>
    </object>
    <object>
        <name>person</name>
        <bndbox><xmin>8</xmin><ymin>12</ymin><xmax>352</xmax><ymax>498</ymax></bndbox>
    </object>
</annotation>
"""


def image() -> ImageAnnotations:
    return ImageAnnotations(
        "img/a.jpg",
        640,
        480,
        [
            Shape(
                "rectangle",
                "car",
                (10, 20, 30, 40),
                attributes={"difficult": 1, "pose": "Frontal", "color": "red"},
            ),
            Shape(
                "polygon",
                "road",
                [(0, 400), (640, 400), (640, 480), (0, 480)],
                text="A1",
                score=0.5,
            ),
            Shape("classification", "day"),
        ],
        extra={"folder": "img", "database": "mine", "depth": 1},
    )


def test_round_trip_keeps_shapes_flags_and_attributes(tmp_path: Path) -> None:
    path = write_voc(image(), tmp_path / "a.xml")
    assert_images_close(read_voc(path), image(), 0)
    assert read_voc(path).extra == {"folder": "img", "database": "mine", "depth": 1}


def test_full_field_set_is_written(tmp_path: Path) -> None:
    root = ET.fromstring(voc_xml(image()))
    assert [c.tag for c in root][:6] == [
        "folder",
        "filename",
        "source",
        "size",
        "segmented",
        "object",
    ]
    assert root.findtext("segmented") == "1"
    car, road, day = root.findall("object")
    assert [c.tag for c in car] == [
        "name",
        "pose",
        "truncated",
        "difficult",
        "occluded",
        "bndbox",
        "attributes",
    ]
    assert (car.findtext("pose"), car.findtext("difficult"), car.findtext("truncated")) == (
        "Frontal",
        "1",
        "0",
    )
    assert [car.findtext(f"bndbox/{t}") for t in ("xmin", "ymin", "xmax", "ymax")] == [
        "10",
        "20",
        "40",
        "60",
    ]
    # A polygon also gets its box, for readers that know only boxes.
    assert road.findtext("bndbox/xmax") == "640" and road.findtext("polygon/x4") == "0"
    assert day.find("bndbox") is None and day.findtext("pose") == "Unspecified"


def test_labelimg_file_with_missing_flags_is_read(tmp_path: Path) -> None:
    path = tmp_path / "dog.xml"
    path.write_text(LABELIMG)
    got = read_voc(path)
    assert (got.filename, got.width, got.height) == ("dog.jpg", 500, 375)
    dog, person = got.shapes
    assert dog.coords == (48, 240.5, 147, 130.5)
    assert dog.attributes == {"truncated": 1, "pose": "Left"}
    assert person.attributes == {}
    assert got.extra == {"folder": "images", "path": "/home/me/images/dog.jpg"}


def test_missing_size_is_read_from_the_image_header(tmp_path: Path) -> None:
    path = tmp_path / "dog.xml"
    path.write_text(
        LABELIMG.replace("<size><width>500</width><height>375</height><depth>3</depth></size>", "")
    )
    assert (read_voc(path).width, read_voc(path).height) == (None, None)
    write_png(tmp_path / "images" / "dog.jpg", 321, 123)
    got = read_voc(path, image_dir=tmp_path / "images")
    assert (got.width, got.height) == (321, 123)


def test_skip_difficult(tmp_path: Path) -> None:
    path = write_voc(image(), tmp_path / "a.xml")
    assert [s.label for s in read_voc(path, skip_difficult=True).shapes] == ["road", "day"]


def test_point_style_polygon(tmp_path: Path) -> None:
    path = tmp_path / "p.xml"
    path.write_text(
        "<annotation><filename>p.jpg</filename><object><name>a</name><polygon>"
        + "".join(f"<pt><x>{x}</x><y>{y}</y></pt>" for x, y in [(1, 2), (3, 4), (5, 0)])
        + "</polygon></object></annotation>"
    )
    assert read_voc(path).shapes[0].coords == [(1, 2), (3, 4), (5, 0)]


def test_folder_read_skips_other_files_and_collects_labels(tmp_path: Path) -> None:
    write_voc_dir(
        AnnotationSet(
            images=[
                image(),
                ImageAnnotations("b.png", 5, 5, [Shape("rectangle", "bike", (0, 0, 1, 1))]),
            ]
        ),
        tmp_path,
    )
    (tmp_path / "README.md").write_text("# notes\n")
    (tmp_path / "b.txt").write_text("0 0.5 0.5 0.1 0.1\n")
    got = read_voc_dir(tmp_path)
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.xml")) == [
        "b.xml",
        "img/a.xml",
    ]
    assert [im.filename for im in got.images] == ["b.png", "img/a.jpg"]
    assert got.labels == ["bike", "car", "road", "day"]


def test_folder_without_xml_and_duplicate_images_fail(tmp_path: Path) -> None:
    with pytest.raises(FormatError, match="no Pascal VOC files"):
        read_voc_dir(tmp_path)
    write_voc(image(), tmp_path / "a.xml")
    write_voc(image(), tmp_path / "b.xml")
    with pytest.raises(FormatError, match="also annotated in"):
        read_voc_dir(tmp_path)


# --- unsafe XML ---------------------------------------------------------------------------------

BOMB = """<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
]>
<annotation><filename>&lol2;</filename></annotation>
"""


def test_entity_expansion_bomb_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bomb.xml"
    path.write_text(BOMB)
    with pytest.raises(UnsafeXMLError, match="entity 'lol'") as err:
        read_voc(path)
    assert err.value.path == str(path) and err.value.line == 3


def test_external_entity_is_refused_and_not_read(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET")
    path = tmp_path / "xxe.xml"
    path.write_text(
        f'<?xml version="1.0"?>\n<!DOCTYPE a [<!ENTITY x SYSTEM "file://{secret}">]>'
        "\n<annotation><filename>&x;</filename></annotation>\n"
    )
    with pytest.raises(UnsafeXMLError, match="external entit") as err:
        read_voc(path)
    assert "TOP-SECRET" not in str(err.value)


# --- malformed files ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("<annotation>\n<filename>a.jpg</filename>\n<object>\n", 4, "not valid XML"),
        ("<annotation>\n<object><name>a</name></object>\n</annotation>", 1, "no <filename>"),
        ("<notvoc>\n</notvoc>", 1, "not <annotation>"),
        (
            "<annotation><filename>a.jpg</filename>\n<object>\n<bndbox><xmin>1</xmin>"
            "</bndbox></object></annotation>",
            2,
            "no <name>",
        ),
        (
            "<annotation><filename>a.jpg</filename>\n<object><name>a</name>\n<bndbox>\n"
            "<xmin>x</xmin><ymin>1</ymin><xmax>2</xmax><ymax>2</ymax></bndbox></object>"
            "</annotation>",
            4,
            "<xmin> must be a number",
        ),
        (
            "<annotation><filename>a.jpg</filename>\n<object><name>a</name>\n<bndbox>"
            "<xmin>5</xmin><ymin>1</ymin><xmax>2</xmax><ymax>2</ymax></bndbox></object>"
            "</annotation>",
            3,
            "bad coordinates",
        ),
        (
            "<annotation><filename>a.jpg</filename>\n<object><name>a</name>\n<bndbox>"
            "<xmin>5</xmin><ymin>1</ymin></bndbox></object></annotation>",
            3,
            "no <xmax>",
        ),
        (
            "<annotation><filename>a.jpg</filename>\n<object><name>a</name>\n<polygon>"
            "<x1>1</x1><y1>1</y1><x2>2</x2><y2>2</y2></polygon></object></annotation>",
            3,
            "3 points or more",
        ),
        (
            "<annotation><filename>a.jpg</filename>\n<size><width>-4</width></size></annotation>",
            2,
            "whole number",
        ),
        ("<annotation>\n<filename>../../a.jpg</filename></annotation>", 2, "'..' segment"),
    ],
)
def test_malformed_file_names_file_and_line(
    tmp_path: Path, text: str, line: int, message: str
) -> None:
    path = tmp_path / "bad.xml"
    path.write_text(text)
    with pytest.raises(FormatError, match=message) as err:
        read_voc(path)
    assert err.value.path == str(path) and err.value.line == line


def test_image_symlink_leaving_image_dir_is_refused(tmp_path: Path) -> None:
    (tmp_path / "images").mkdir()
    write_png(tmp_path / "private.png", 10, 10)
    os.symlink(tmp_path / "private.png", tmp_path / "images" / "dog.jpg")
    path = tmp_path / "dog.xml"
    path.write_text(LABELIMG.replace("<size>", "<sz>").replace("</size>", "</sz>"))
    with pytest.raises(UnsafePathError, match="outside"):
        read_voc(path, image_dir=tmp_path / "images")


# --- writing ------------------------------------------------------------------------------------


def test_unsupported_shapes_are_refused_or_skipped(tmp_path: Path) -> None:
    im = image()
    im.shapes.append(Shape("point", "car", (1, 2)))
    with pytest.raises(FormatError, match="no point form"):
        write_voc(im, tmp_path / "a.xml")
    assert not (tmp_path / "a.xml").exists()
    assert len(read_voc(write_voc(im, tmp_path / "a.xml", unsupported="skip")).shapes) == 3


def test_text_xml_cannot_carry_is_refused() -> None:
    im = image()
    im.shapes[0].label = "bad\x01label"
    with pytest.raises(FormatError, match="character XML cannot carry"):
        voc_xml(im)


def test_folder_write_checks_every_image_before_writing(tmp_path: Path) -> None:
    aset = AnnotationSet(images=[image(), ImageAnnotations("../x.jpg", 1, 1)])
    with pytest.raises(UnsafePathError):
        write_voc_dir(aset, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    clash = AnnotationSet(images=[ImageAnnotations("a.jpg"), ImageAnnotations("a.png")])
    with pytest.raises(FormatError, match=r"two images would write a\.xml"):
        write_voc_dir(clash, tmp_path / "out")
