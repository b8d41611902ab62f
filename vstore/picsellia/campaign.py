"""Annotation campaigns: one per dataset version, with one task per asset.

The campaign record (name, description, instructions, end date, options, status) lives in
the version's Picsellia document; each asset's task lives in its frame, ``meta._task =
{campaign, status, user}``, so tasks are versioned and listed like the assets. A task
names its campaign: tasks a fork inherits from its parent's campaign are ignored.
"""

from __future__ import annotations

import datetime as _dt
import os
import uuid
from typing import TYPE_CHECKING, Any, NamedTuple

from vstore.errors import (
    AlreadyExistsError,
    InvalidArgumentError,
    LocalFileNotFoundError,
    NoDataError,
    WrongTypeError,
)
from vstore.picsellia import frames
from vstore.picsellia.index import asset_index
from vstore.picsellia.record import KEY_TASK

if TYPE_CHECKING:
    from vstore.datasets.version import DatasetVersion
    from vstore.picsellia.asset import Asset

__all__ = ["TASK_STATUSES", "AnnotationCampaign", "CampaignTask", "campaign_filter",
           "create_campaign", "get_campaign"]

TASK_STATUSES = ("PENDING", "DONE", "SKIPPED")
_MAX_INSTRUCTIONS = 1 << 20


class CampaignTask(NamedTuple):
    """One asset's task in a campaign."""

    asset_id: str
    status: str
    user: str | None


def _instructions(path: str | os.PathLike[str] | None) -> tuple[str | None, str | None]:
    if path is None:
        return None, None
    src = os.fspath(path)
    if not os.path.isfile(src):
        raise LocalFileNotFoundError(src, "instructions file")
    with open(src, "rb") as f:
        data = f.read(_MAX_INSTRUCTIONS + 1)
    if len(data) > _MAX_INSTRUCTIONS:
        raise InvalidArgumentError(f"instructions file {src} is over {_MAX_INSTRUCTIONS} bytes")
    try:
        return os.path.basename(src), data.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidArgumentError(f"instructions file {src} is not UTF-8 text") from None


def _end_date(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, _dt.datetime):
        return value.date().isoformat()
    if isinstance(value, _dt.date):
        return value.isoformat()
    raise WrongTypeError(f"end_date must be a date, not {type(value).__name__}")


class AnnotationCampaign:
    """The annotation campaign of a dataset version."""

    def __init__(self, version: DatasetVersion, record: dict[str, Any]) -> None:
        self._version = version
        self._set(record)

    def _set(self, record: dict[str, Any]) -> None:
        self._record = dict(record)
        self.id: str = record["id"]
        self.name: str = record["name"]
        self.description: str | None = record.get("description")
        self.instructions_text: str | None = record.get("instructions_text")
        self.instructions_file_name: str | None = record.get("instructions_file_name")
        self.instructions_file_content: str | None = record.get("instructions_file_content")
        end = record.get("end_date")
        self.end_date: _dt.date | None = None if end is None else _dt.date.fromisoformat(end)
        self.auto_add_new_assets: bool = bool(record.get("auto_add_new_assets"))
        self.auto_close_on_completion: bool = bool(record.get("auto_close_on_completion"))
        self.status: str = record.get("status", "OPEN")

    @property
    def dataset_version_id(self) -> str:
        """The version the campaign annotates."""
        return self._version.version_id

    def sync(self) -> AnnotationCampaign:
        """Re-read the campaign."""
        self._set(get_campaign(self._version)._record)
        return self

    def list_tasks(self) -> list[CampaignTask]:
        """Every task of the campaign, in asset order."""
        return [CampaignTask(e.id, str(e.task.get("status")), e.task.get("user"))
                for e in asset_index(self._version).entries
                if e.task is not None and e.task.get("campaign") == self.id]

    def update_task(self, asset: Asset | str, status: str, user: str | None = None) -> None:
        """Set an asset's task status (PENDING, DONE or SKIPPED) and assignee.

        The campaign closes itself once every task is done or skipped, when it was created
        with ``auto_close_on_completion``.

        Raises:
            InvalidArgumentError: an unknown status, or an asset outside the campaign.
        """
        wanted = str(status).upper()
        if wanted not in TASK_STATUSES:
            raise InvalidArgumentError(f"task status must be one of {TASK_STATUSES}")
        asset_id = asset if isinstance(asset, str) else asset.id

        def edit(record: dict[str, Any]) -> dict[str, Any]:
            task = (record.get("meta") or {}).get(KEY_TASK)
            if not isinstance(task, dict) or task.get("campaign") != self.id:
                raise InvalidArgumentError(f"asset {asset_id!r} has no task in this campaign")
            meta = {**record["meta"], KEY_TASK: {**task, "status": wanted, "user": user}}
            return {**record, "meta": meta}

        frames.edit_records(self._version, [asset_id], edit)
        if self.auto_close_on_completion and all(
                t.status != "PENDING" for t in self.list_tasks()):
            self.update(status="CLOSED")

    def update(self, **fields: Any) -> None:
        """Change fields: ``description``, ``instructions_text``, ``end_date``,
        ``auto_add_new_assets``, ``auto_close_on_completion`` or ``status`` (OPEN, CLOSED)."""
        allowed = {"description", "instructions_text", "end_date", "auto_add_new_assets",
                   "auto_close_on_completion", "status"}
        unknown = set(fields) - allowed
        if unknown:
            raise InvalidArgumentError(f"unknown campaign fields {sorted(unknown)}")
        if "end_date" in fields:
            fields["end_date"] = _end_date(fields["end_date"])
        if fields.get("status", "OPEN") not in ("OPEN", "CLOSED"):
            raise InvalidArgumentError("campaign status is OPEN or CLOSED")
        from vstore.picsellia.version_meta import change_doc

        def edit(doc: dict[str, Any]) -> bool:
            doc["campaign"] = {**(doc.get("campaign") or {}), **fields}
            return True

        self._set(change_doc(self._version, edit, "update campaign")["campaign"])

    def close(self) -> None:
        """Close the campaign."""
        self.update(status="CLOSED")

    def __repr__(self) -> str:
        return f"AnnotationCampaign(name={self.name!r}, status={self.status})"


def get_campaign(version: DatasetVersion) -> AnnotationCampaign:
    """The version's campaign.

    Raises:
        NoDataError: the version has no campaign.
    """
    record = frames.read_doc(version).get("campaign")
    if not isinstance(record, dict):
        raise NoDataError("There is no annotation campaign defined for this dataset version; "
                          "create one with create_campaign")
    return AnnotationCampaign(version, record)


def create_campaign(version: DatasetVersion, name: str | None = None,
                    description: str | None = None,
                    instructions_file_path: str | os.PathLike[str] | None = None,
                    instructions_text: str | None = None, end_date: Any = None,
                    auto_add_new_assets: bool = False, auto_close_on_completion: bool = False
                    ) -> AnnotationCampaign:
    """See ``DatasetVersion.create_campaign``."""
    from vstore.picsellia.version_meta import change_doc

    if frames.read_doc(version).get("campaign"):
        raise AlreadyExistsError("this dataset version already has an annotation campaign")
    for value, what in ((name, "name"), (description, "description"),
                        (instructions_text, "instructions_text")):
        if value is not None and not isinstance(value, str):
            raise WrongTypeError(f"{what} must be a str, not {type(value).__name__}")
    file_name, content = _instructions(instructions_file_path)
    record = {
        "id": uuid.uuid4().hex, "name": name or f"{version.version_name} campaign",
        "description": description, "instructions_text": instructions_text,
        "instructions_file_name": file_name, "instructions_file_content": content,
        "end_date": _end_date(end_date), "auto_add_new_assets": bool(auto_add_new_assets),
        "auto_close_on_completion": bool(auto_close_on_completion), "status": "OPEN",
    }
    task = {"campaign": record["id"], "status": "PENDING", "user": None}

    def add_task(r: dict[str, Any]) -> dict[str, Any]:
        return {**r, "meta": {**(r.get("meta") or {}), KEY_TASK: dict(task)}}

    # Tasks first: tasks that name a campaign the document does not hold are ignored.
    frames.edit_records(version, [e.id for e in asset_index(version).entries], add_task)

    def edit(doc: dict[str, Any]) -> bool:
        if doc.get("campaign"):
            raise AlreadyExistsError("this dataset version already has an annotation campaign")
        doc["campaign"] = record
        return True

    change_doc(version, edit, "create campaign")
    return AnnotationCampaign(version, record)


def campaign_filter(version: DatasetVersion, status: str | None, step_id: str | None,
                    user_id: str | None) -> dict[str, Any]:
    """The task fields ``list_assets`` filters on for its ``assignment_*`` arguments."""
    if status is None and step_id is None and user_id is None:
        return {}
    campaign = get_campaign(version)
    # A campaign here has one step, whose id is the campaign's: another step id matches nothing.
    return {"campaign": step_id or campaign.id,
            "status": None if status is None else str(status).upper(), "user": user_id}

