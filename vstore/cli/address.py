"""Version addresses: how the CLI names a version, or one state of it.

Grammar::

    address  := [dataset] "@" ref ancestry       cars@v1, cars@current, @v1, @current~2
              | name-or-id ancestry              cars, 3fa9c2e1, 9b2c...(a version id)
    ref      := "current" | version name | version id | commit id prefix (4+ hex digits)
    ancestry := ("~" [N])*                       ~ is ~1; ~2~1 is ~3

* ``cars`` and ``cars@current`` are the dataset's current version (its newest draft).
* Without a dataset (``@v1``, ``@current``) the default dataset is used: ``core.dataset``,
  else the store's only dataset.
* A bare word is a dataset name, else a version id, else a commit id prefix.
* ``~N`` walks N commits back: a version's commit descends from the commit its parent
  version had when the child was made, so ``cars~1`` is the version ``cars`` was made from.
* A commit id names one state of a version; a state that is no longer the version's latest
  can be read (``ls``, ``show``, ``diff``, ``stats``) but not written.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from vstore.cli.errors import CliError, CliUsageError

if TYPE_CHECKING:
    from vstore.datasets.registry import DatasetInfo, VersionState
    from vstore.datasets.store import Store
    from vstore.datasets.version import DatasetVersion
    from vstore.engine import Commit

__all__ = ["CURRENT", "Resolved", "parse_address", "resolve"]

CURRENT = "current"
_ANCESTRY = re.compile(r"((?:~\d*)+)$")
_HEX = re.compile(r"^[0-9a-f]{4,64}$")
_VERSION_ID = re.compile(r"^[0-9a-f]{32}$")


@dataclass(frozen=True)
class Parsed:
    """An address split into parts (nothing looked up yet)."""

    dataset: str | None
    ref: str | None
    has_at: bool
    back: int


def parse_address(text: str) -> Parsed:
    """Split an address into dataset, ref and ancestry.

    Raises:
        CliUsageError: an empty address or a malformed ``~``.
    """
    if not text or not text.strip():
        raise CliUsageError("an empty version address",
                            "write DATASET, DATASET@VERSION or @VERSION")
    back = 0
    m = _ANCESTRY.search(text)
    if m:
        for step in m.group(1).split("~")[1:]:
            back += int(step) if step else 1
        text = text[: m.start()]
    if "@" in text:
        dataset, _, ref = text.rpartition("@")
        if not ref:
            raise CliUsageError(f"{text!r} has nothing after '@'",
                                "write DATASET@VERSION, DATASET@current or @VERSION")
        return Parsed(dataset or None, ref, True, back)
    if not text:
        return Parsed(None, CURRENT, True, back)  # a bare "~2" means "@current~2"
    return Parsed(None, text, False, back)


@dataclass(frozen=True)
class Resolved:
    """A resolved address: one state (commit) of one version.

    Attributes:
        store: the store it was found in.
        dataset: the dataset.
        commit: the commit the address names.
        head: the version's latest state (the same commit unless the address named an
            older one), or None if the version was removed.
        text: the address as written.
    """

    store: Store
    dataset: DatasetInfo
    commit: Commit
    head: VersionState | None
    text: str

    @property
    def version_id(self) -> str:
        return str(self.commit.meta.get("version"))

    @property
    def version_name(self) -> str:
        return str(self.commit.meta.get("name"))

    @property
    def status(self) -> str:
        return str(self.commit.meta.get("status"))

    @property
    def tree(self) -> bytes:
        return self.commit.tree

    @property
    def is_head(self) -> bool:
        """True when the address names the version's latest state."""
        return self.head is not None and self.head.commit.id == self.commit.id

    @property
    def label(self) -> str:
        """``dataset@version`` and a short commit id, for messages."""
        return f"{self.dataset.name}@{self.version_name} ({self.commit.id.hex()[:12]})"

    def version(self) -> DatasetVersion:
        """The version, for writes and version-level reads.

        Raises:
            CliError: the address names an older state of the version.
        """
        if not self.is_head:
            raise CliError(
                f"{self.text!r} names an older state ({self.commit.id.hex()[:12]}) of "
                f"{self.dataset.name}@{self.version_name}; only its latest state can change",
                f"address the version itself: {self.dataset.name}@{self.version_id}",
            )
        import vstore

        return vstore.DatasetVersion.get_version(
            dataset_id=self.dataset.id, version_id=self.version_id, store=self.store
        )


def resolve(store: Store, text: str, default_dataset: str | None = None) -> Resolved:
    """Resolve a version address in ``store``.

    Args:
        store: where to look.
        text: the address.
        default_dataset: the dataset of addresses without one (``core.dataset``).

    Raises:
        CliUsageError: a malformed address.
        CliError: nothing, or more than one thing, matches.
    """
    p = parse_address(text)
    state: VersionState | None
    if p.has_at:
        info = _dataset(store, p.dataset, default_dataset, text)
        state, commit = _in_dataset(store, info, p.ref or CURRENT, text)
    else:
        assert p.ref is not None
        found = store.registry.dataset_by_name(p.ref)
        if found is not None:
            info, (state, commit) = found, _in_dataset(store, found, CURRENT, text)
        else:
            info, state, commit = _anywhere(store, p.ref, text)
    for i in range(p.back):
        if not commit.parents:
            raise CliError(
                f"{text!r}: {info.name}@{commit.meta.get('name')} has only {i} ancestor(s)",
                f"see the history with `vstore log {info.name}@{commit.meta.get('version')}`",
            )
        commit = store.repo.read_commit(commit.parents[0])
    if p.back:
        info, state = _owner(store, commit, info)
    return Resolved(store, info, commit, state, text)


def _dataset(store: Store, name: str | None, default: str | None, text: str) -> DatasetInfo:
    if name is None:
        name = default
    if name is None:
        infos = store.registry.datasets()
        if len(infos) == 1:
            return infos[0]
        raise CliError(
            f"{text!r} names no dataset and the store has {len(infos)} datasets",
            "write DATASET@VERSION, or set a default: `vstore config set core.dataset NAME`"
            if infos else "create one with `vstore dataset create NAME`",
        )
    info = store.registry.dataset_by_name(name)
    if info is None:
        raise CliError(f"no dataset named {name!r}", "list them with `vstore dataset list`")
    return info


def _in_dataset(
    store: Store, info: DatasetInfo, ref: str, text: str
) -> tuple[VersionState, Commit]:
    states = store.registry.versions(info.id)
    if ref == CURRENT:
        import vstore

        vid = vstore.DatasetVersion.get_current(dataset_id=info.id, store=store).version_id
        state = next((s for s in states if s.version_id == vid), None)
        if state is None:  # removed between the two reads
            raise CliError(f"the current version of {info.name!r} changed meanwhile",
                           "run the command again")
        return state, state.commit
    named = [s for s in states if s.name == ref]
    if named:
        state = max(named, key=lambda s: s.meta["updated"])
        return state, state.commit
    if _VERSION_ID.match(ref):
        by_id = [s for s in states if s.version_id == ref]
        if by_id:
            return by_id[0], by_id[0].commit
    if _HEX.match(ref):
        hits = _commits(store, states, ref)
        if len(hits) == 1:
            return hits[0]
        if len(hits) > 1:
            raise _ambiguous(text, hits)
    raise CliError(
        f"dataset {info.name!r} has no version named {ref!r}",
        f"list its versions with `vstore version list {info.name}`",
    )


def _anywhere(store: Store, ref: str, text: str) -> tuple[DatasetInfo, VersionState, Commit]:
    if not _HEX.match(ref):
        raise CliError(
            f"no dataset named {ref!r}",
            "list datasets with `vstore dataset list`; name a version as DATASET@VERSION",
        )
    infos = {d.id: d for d in store.registry.datasets()}
    states = [s for d in infos.values() for s in store.registry.versions(d.id)]
    if _VERSION_ID.match(ref):
        by_id = [s for s in states if s.version_id == ref]
        if by_id:
            return infos[by_id[0].dataset_id], by_id[0], by_id[0].commit
    hits = _commits(store, states, ref)
    if len(hits) > 1:
        raise _ambiguous(text, hits)
    if not hits:
        raise CliError(
            f"no dataset, version id or commit matches {ref!r}",
            "list datasets with `vstore dataset list`, commits with `vstore log DATASET`",
        )
    state, commit = hits[0]
    return infos[state.dataset_id], state, commit


def _commits(
    store: Store, states: list[VersionState], prefix: str
) -> list[tuple[VersionState, Commit]]:
    """Version states whose commit id starts with ``prefix``: latest states first, then
    every earlier state recorded in the versions' logs."""
    hits = {s.commit.id: (s, s.commit) for s in states if s.commit.id.hex().startswith(prefix)}
    if hits:
        return list(hits.values())
    refs = store.repo.refs
    for s in states:
        for entry in refs.entries(f"versions/{s.dataset_id}/{s.version_id}"):
            if entry.value is not None and entry.value.hex().startswith(prefix):
                hits.setdefault(entry.value, (s, store.repo.read_commit(entry.value)))
    return list(hits.values())


def _owner(
    store: Store, commit: Commit, fallback: DatasetInfo
) -> tuple[DatasetInfo, VersionState | None]:
    """The dataset and current state of the version ``commit`` belongs to."""
    ds = str(commit.meta.get("dataset") or fallback.id)
    info = store.registry.dataset_by_id(ds) or fallback
    vid = commit.meta.get("version")
    state = store.registry.version(info.id, str(vid)) if isinstance(vid, str) else None
    return info, state


def _ambiguous(text: str, hits: list[tuple[VersionState, Commit]]) -> CliError:
    shown = ", ".join(f"{c.id.hex()[:12]} ({s.name})" for s, c in hits[:5])
    return CliError(
        f"{text!r} matches {len(hits)} commits: {shown}",
        "give more digits of the commit id",
    )


def complete(store: Store, incomplete: str) -> list[str]:
    """Addresses starting with ``incomplete`` (for shell completion)."""
    out = []
    for d in store.registry.datasets():
        if d.name.startswith(incomplete):
            out.append(d.name)
        for s in store.registry.versions(d.id):
            addr = f"{d.name}@{s.name}"
            if addr.startswith(incomplete) and addr not in out:
                out.append(addr)
    return out
