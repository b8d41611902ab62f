"""Enums with the original's values, and the never-empty MultiObject rules."""

from __future__ import annotations

import pytest

import vstore
from vstore.errors import InvalidArgumentError, NoDataError, WrongTypeError
from vstore.picsellia import (
    AnnotationExportKey,
    AnnotationFileType,
    AnnotationStatus,
    DataType,
    DataUploadStatus,
    ImportAnnotationMode,
    InferenceType,
    Label,
    MultiObject,
    TagTarget,
)


def test_enum_members_have_the_original_values() -> None:
    assert [m.value for m in InferenceType] == [
        "NOT_CONFIGURED", "CLASSIFICATION", "OBJECT_DETECTION", "SEGMENTATION", "POINT",
        "KEYPOINT", "LINE", "MASK", "MULTI"]
    assert [m.value for m in AnnotationStatus] == ["PENDING", "SKIPPED", "ACCEPTED", "REFUSED"]
    assert [m.value for m in ImportAnnotationMode] == ["REPLACE", "KEEP", "CONCATENATE"]
    assert [m.value for m in AnnotationFileType] == ["PASCAL_VOC", "COCO", "YOLO"]
    assert [m.value for m in AnnotationExportKey] == [
        "ASSET_ID", "DATA_ID", "FILENAME", "OBJECT_NAME"]
    assert [m.value for m in TagTarget] == [
        "DATA", "ASSET", "MODEL_VERSION", "MODEL", "DATASET_VERSION", "DATASET", "DEPLOYMENT",
        "PREDICTED_ASSET"]
    assert [m.value for m in DataType] == ["IMAGE", "VIDEO"]
    assert [m.value for m in DataUploadStatus] == ["PENDING", "COMPUTING", "ERROR", "DONE"]
    assert InferenceType.OBJECT_DETECTION == "OBJECT_DETECTION"  # a str enum


def test_validate_is_case_insensitive_and_skip_is_keep() -> None:
    assert InferenceType.validate("object_detection") is InferenceType.OBJECT_DETECTION
    assert InferenceType.validate(InferenceType.MASK) is InferenceType.MASK
    assert ImportAnnotationMode.SKIP is ImportAnnotationMode.KEEP
    assert ImportAnnotationMode.validate("skip") is ImportAnnotationMode.KEEP
    assert vstore.TagTarget is TagTarget


@pytest.mark.parametrize("bad", ["objet", 3, None, b"MASK"])
def test_validate_refuses_unknown_values_with_a_type_error(bad: object) -> None:
    with pytest.raises(WrongTypeError, match="should be one of") as err:
        InferenceType.validate(bad)
    assert isinstance(err.value, TypeError) and isinstance(err.value, ValueError)


class Labels(MultiObject[Label]):
    item_type = Label


def test_multiobject_is_never_empty() -> None:
    with pytest.raises(NoDataError):
        Labels([])
    one = Labels([Label("a")])
    with pytest.raises(NoDataError):
        one.pop()
    with pytest.raises(NoDataError):
        one.remove(Label("a"))
    with pytest.raises(NoDataError):
        del one[0]
    with pytest.raises(NoDataError):
        Labels([Label("a"), Label("b")]).clear()
    assert len(one) == 1 and one[0] == Label("a")


def test_multiobject_slicing_adding_and_splitting() -> None:
    many = Labels([Label(str(i)) for i in range(10)])
    part = many[2:5]
    assert isinstance(part, Labels) and [x.name for x in part] == ["2", "3", "4"]
    with pytest.raises(NoDataError):
        many[5:5]
    both = part + Label("x") + Labels([Label("y")])
    assert [x.name for x in both] == ["2", "3", "4", "x", "y"]
    part += Label("z")
    assert len(part) == 4
    with pytest.raises(WrongTypeError):
        part + "not a label"  # type: ignore[operator]
    with pytest.raises(WrongTypeError):
        Labels(["not a label"])  # type: ignore[list-item]
    left, right = many.split(0.25)  # round(2.5) = 2
    assert (len(left), len(right)) == (2, 8)
    with pytest.raises(NoDataError):
        many.split(0)
    with pytest.raises(InvalidArgumentError):
        many.split(1.5)
    assert many.pop(0) == Label("0") and len(many) == 9
