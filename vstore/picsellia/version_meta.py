"""Version-level data of the Picsellia surface: type, description, name, tags, labels, asset tags.

The type, the labels (with what imports recorded about them for the file formats) and the
asset tag definitions live in the version's Picsellia document
(``vstore.picsellia.frames.DOC_KEY``); the description is the version's ``comment`` and the
version tags its ``tags``, the same fields the Hyper-Datasets surface shows.

Labels are identified by name. ``list_labels`` gives the labels created here in creation
order, then any label the version's frames use without having been created (frames written
through the Hyper-Datasets surface), by name.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from vstore.errors import AlreadyExistsError, NotFoundError, ReadOnlyError, WrongTypeError
from vstore.picsellia import frames
from vstore.picsellia.datalake import ensure_tags
from vstore.picsellia.enums import InferenceType, TagTarget
from vstore.picsellia.labels import Label
from vstore.picsellia.record import check_name
from vstore.picsellia.tags import Tag, tag_names

if TYPE_CHECKING:
    from vstore.datasets.registry import VersionState
    from vstore.datasets.version import DatasetVersion

__all__ = [
    "FORMATS_KEY",
    "add_version_tags",
    "change_doc",
    "create_asset_tag",
    "create_label",
    "delete_version",
    "ensure_asset_tags",
    "ensure_labels",
    "get_asset_tag",
    "get_label",
    "known_labels",
    "label_formats",
    "list_asset_tags",
    "list_labels",
    "remove_version_tags",
    "update_version_fields",
    "version_tags",
    "version_type",
]

#: The key of the version document that holds the label fields of the file formats.
FORMATS_KEY = "label_formats"


def change_doc(version: DatasetVersion, edit: Callable[[dict[str, Any]], bool],
               message: str = "update version") -> dict[str, Any]:
    """Edit the version's Picsellia document atomically; return the document written.

    ``edit(doc)`` changes the (copied) document in place and says whether it changed; it
    may run again on a newer document if another writer won, and may raise to refuse.
    """
    out: dict[str, Any] = {}

    def change(state: VersionState) -> dict[str, Any] | None:
        doc = {k: (list(v) if isinstance(v, list) else v)
               for k, v in (state.meta.get(frames.DOC_KEY) or {}).items()}
        out.clear()
        out.update(doc)
        if not edit(doc):
            return None
        out.update(doc)
        return {frames.DOC_KEY: doc}

    frames.update_version(version, change, message)
    return out


def version_type(version: DatasetVersion) -> InferenceType:
    """The version's inference type."""
    return InferenceType.validate(frames.read_doc(version).get("type") or "NOT_CONFIGURED")


def update_version_fields(version: DatasetVersion, name: str | None = None,
                          description: str | None = None,
                          type: InferenceType | str | None = None) -> None:
    """Change the version's name, description and type (only the arguments not None).

    Raises:
        AlreadyExistsError: another version of the dataset has that name.
        ReadOnlyError: the version is published.
    """
    kind = None if not type else InferenceType.validate(type)
    if name is not None:
        check_name(name, "version name")
        clash = [s for s in version.store.registry.versions(version.dataset_id)
                 if s.name == name and s.version_id != version.version_id]
        if clash:
            raise AlreadyExistsError(f"dataset {version.dataset_name!r} already has a version "
                                     f"named {name!r}")
    if description is not None and not isinstance(description, str):
        raise WrongTypeError(f"description must be a str, not {type(description).__name__}")

    def change(state: VersionState) -> dict[str, Any] | None:
        updates: dict[str, Any] = {}
        if name is not None:
            updates["name"] = name
        if description is not None:
            updates["comment"] = description
        if kind is not None:
            doc = dict(state.meta.get(frames.DOC_KEY) or {})
            doc["type"] = kind.value
            updates[frames.DOC_KEY] = doc
        return updates or None

    frames.update_version(version, change)


def delete_version(version: DatasetVersion) -> None:
    """Remove the version, its assets and annotations.

    Raises:
        ReadOnlyError: the version is published (remove it with ``remove_version(force=True)``).
    """
    state = frames.state_of(version)
    if state.status == "published":
        raise ReadOnlyError(
            f"version {state.name!r} is published: remove it with "
            "DatasetVersion.remove_version(..., force=True)"
        )
    if not version.store.registry.remove_version(state):
        raise ReadOnlyError(f"version {state.name!r} changed while being deleted; try again")


# -- version tags ---------------------------------------------------------------------------


def _edit_tags(version: DatasetVersion, tags: Any, add: bool) -> None:
    names = tag_names(tags, TagTarget.DATASET_VERSION)
    if add and version.draft:  # a published version refuses below: register nothing
        ensure_tags(version.store, names, TagTarget.DATASET_VERSION)

    def change(state: VersionState) -> dict[str, Any] | None:
        have = [t for t in state.meta.get("tags") or [] if isinstance(t, str)]
        now = have + [n for n in names if n not in have] if add else [
            t for t in have if t not in names]
        return None if now == have else {"tags": now}

    frames.update_version(version, change, "tags")


def add_version_tags(version: DatasetVersion, tags: Any) -> None:
    """Put DATASET_VERSION tags on the version."""
    _edit_tags(version, tags, True)


def remove_version_tags(version: DatasetVersion, tags: Any) -> None:
    """Take DATASET_VERSION tags off the version."""
    _edit_tags(version, tags, False)


def version_tags(version: DatasetVersion) -> list[Tag]:
    """The version's tags."""
    names = frames.state_of(version).meta.get("tags") or []
    return [Tag(n, TagTarget.DATASET_VERSION) for n in names if isinstance(n, str)]


# -- labels ---------------------------------------------------------------------------------


def _registered(doc: dict[str, Any]) -> list[str]:
    return [n for n in doc.get("labels") or [] if isinstance(n, str)]


def known_labels(version: DatasetVersion) -> list[str]:
    """Label names: created ones in creation order, then those only frames use, by name."""
    names = _registered(frames.read_doc(version))
    used = sorted(row["name"] for row in version.get_stats()["labels"])
    return names + [n for n in used if n not in set(names)]


def list_labels(version: DatasetVersion) -> list[Label]:
    """The version's labels (see the module docstring for the order)."""
    return [Label(n) for n in known_labels(version)]


def create_label(version: DatasetVersion, name: str) -> Label:
    """Create a label.

    Raises:
        AlreadyExistsError: the version has a label of that name.
    """
    check_name(name, "label name")

    def edit(doc: dict[str, Any]) -> bool:
        labels = _registered(doc)
        if name in labels:
            raise AlreadyExistsError(f"this dataset version already has a label {name!r}")
        doc["labels"] = [*labels, name]
        return True

    change_doc(version, edit, "create label")
    return Label(name)


def get_label(version: DatasetVersion, name: str) -> Label:
    """A label by name.

    Raises:
        NotFoundError: no such label.
    """
    check_name(name, "label name")
    if name not in known_labels(version):
        raise NotFoundError(f"this dataset version has no label {name!r}")
    return Label(name)


def ensure_labels(version: DatasetVersion, names: Sequence[str],
                  formats: Mapping[str, Mapping[str, Any]] | None = None) -> None:
    """Create the labels that do not exist yet, and record format fields of labels.

    One write at most, none when nothing changes.

    Args:
        version: the version.
        names: labels to create when missing, in this order.
        formats: per label name, fields to remember for the annotation file formats (see
            :func:`label_formats`); they are merged into the fields already recorded.
    """
    def edit(doc: dict[str, Any]) -> bool:
        labels = _registered(doc)
        missing = [n for n in dict.fromkeys(names) if n not in labels]
        doc["labels"] = labels + missing
        if not formats:
            return bool(missing)
        old = _formats(doc)
        new = {**old, **{n: {**old.get(n, {}), **f} for n, f in formats.items()}}
        doc[FORMATS_KEY] = [{**fields, "name": n} for n, fields in new.items()]
        return bool(missing) or new != old

    change_doc(version, edit, "create labels")


def _formats(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    rows = doc.get(FORMATS_KEY) or []
    return {r["name"]: {k: v for k, v in r.items() if k != "name"}
            for r in rows if isinstance(r, dict) and isinstance(r.get("name"), str)}


def label_formats(version: DatasetVersion) -> dict[str, dict[str, Any]]:
    """What imports recorded about each label for the file formats, by label name.

    The fields are ``coco_id`` (the COCO category id), ``supercategory``, ``keypoints`` and
    ``skeleton`` (from a COCO category) and ``yolo_index`` (the class index of a YOLO
    ``data.yaml``); exports write them back, so ids survive a round trip. They are kept
    in the version document as a list of ``{"name": label, ...}`` rows, since label names
    may hold characters that metadata keys cannot.
    """
    return _formats(frames.read_doc(version))


# -- asset tags -----------------------------------------------------------------------------


def _asset_tags(doc: dict[str, Any]) -> list[str]:
    return [n for n in doc.get("asset_tags") or [] if isinstance(n, str)]


def ensure_asset_tags(version: DatasetVersion, names: Sequence[str], *, new: bool = False
                      ) -> list[Tag]:
    """Record asset tags of the version (get-or-create; ``new`` refuses existing names).

    Raises:
        AlreadyExistsError: ``new`` and an asset tag of that name exists.
    """
    def edit(doc: dict[str, Any]) -> bool:
        have = _asset_tags(doc)
        if new and any(n in have for n in names):
            raise AlreadyExistsError(f"this dataset version already has an asset tag "
                                     f"{names[0]!r}")
        missing = [n for n in dict.fromkeys(names) if n not in have]
        doc["asset_tags"] = have + missing
        return bool(missing)

    change_doc(version, edit, "asset tags")
    return [Tag(n, TagTarget.ASSET) for n in names]


def create_asset_tag(version: DatasetVersion, name: str) -> Tag:
    """Create an asset tag of this version.

    Raises:
        AlreadyExistsError: it exists.
    """
    return ensure_asset_tags(version, [check_name(name, "tag name")], new=True)[0]


def get_asset_tag(version: DatasetVersion, name: str) -> Tag:
    """An asset tag of this version.

    Raises:
        NotFoundError: no such asset tag.
    """
    if check_name(name, "tag name") not in _asset_tags(frames.read_doc(version)):
        raise NotFoundError(f"this dataset version has no asset tag {name!r}")
    return Tag(name, TagTarget.ASSET)


def list_asset_tags(version: DatasetVersion) -> list[Tag]:
    """The asset tags of this version, in creation order."""
    return [Tag(n, TagTarget.ASSET) for n in _asset_tags(frames.read_doc(version))]
