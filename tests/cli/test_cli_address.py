"""The version-address resolver: every form users write, and every way it fails."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import vstore
from vstore import DatasetVersion, SingleFrame
from vstore.cli.address import parse_address, resolve
from vstore.cli.errors import CliError, CliUsageError


def _frames(n: int, start: int = 0) -> list[SingleFrame]:
    return [SingleFrame(source=f"s3://b/{i}.jpg") for i in range(start, start + n)]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[vstore.Store]:
    """cars: v1 (published, 3 frames) -> v2 (published, 5) -> Current (draft, 6 frames);
    bikes: Current (draft, empty)."""
    with vstore.open(str(tmp_path / "s")) as s:
        v = DatasetVersion.create_new_dataset("cars", store=s)
        v.add_frames(_frames(3))
        d = DatasetVersion.create_snapshot(dataset_name="cars", publish_name="v1", store=s)
        d.add_frames(_frames(2, 3))
        d = DatasetVersion.create_snapshot(dataset_name="cars", publish_name="v2", store=s)
        d.add_frames(_frames(1, 5))
        DatasetVersion.create_new_dataset("bikes", store=s)
        yield s


def _name(store: vstore.Store, text: str, default: str | None = None) -> str:
    r = resolve(store, text, default)
    return f"{r.dataset.name}@{r.version_name}:{store.repo.layers.count(r.tree)}"


def test_parse_splits_dataset_ref_and_ancestry() -> None:
    p = parse_address("cars@v1~2~")
    assert (p.dataset, p.ref, p.has_at, p.back) == ("cars", "v1", True, 3)
    p = parse_address("@current")
    assert (p.dataset, p.ref, p.back) == (None, "current", 0)
    p = parse_address("cars")
    assert (p.dataset, p.ref, p.has_at) == (None, "cars", False)
    assert parse_address("~2").ref == "current"
    assert parse_address("my@data@v1").dataset == "my@data"


@pytest.mark.parametrize("text", ["", "  ", "cars@", "cars@~1"])
def test_malformed_addresses_are_usage_errors(store: vstore.Store, text: str) -> None:
    with pytest.raises(CliUsageError):
        resolve(store, text)


def test_dataset_and_version_names(store: vstore.Store) -> None:
    assert _name(store, "cars") == "cars@Current:6"
    assert _name(store, "cars@current") == "cars@Current:6"
    assert _name(store, "cars@Current") == "cars@Current:6"
    assert _name(store, "cars@v1") == "cars@v1:3"
    assert _name(store, "cars@v2") == "cars@v2:5"
    assert _name(store, "bikes") == "bikes@Current:0"


def test_ancestors_follow_parent_versions(store: vstore.Store) -> None:
    assert _name(store, "cars~1") == "cars@v2:5"
    assert _name(store, "cars@current~2") == "cars@v1:3"
    assert _name(store, "cars~1~1") == "cars@v1:3"
    assert _name(store, "cars@v2~") == "cars@v1:3"
    with pytest.raises(CliError, match="has only 2 ancestor"):
        resolve(store, "cars~3")


def test_default_dataset(store: vstore.Store) -> None:
    assert _name(store, "@v1", "cars") == "cars@v1:3"
    assert _name(store, "@current~1", "cars") == "cars@v2:5"
    assert _name(store, "~1", "cars") == "cars@v2:5"
    with pytest.raises(CliError, match="2 datasets") as err:
        resolve(store, "@v1")
    assert err.value.hint is not None and "core.dataset" in err.value.hint


def test_the_only_dataset_is_the_default(tmp_path: Path) -> None:
    with vstore.open(str(tmp_path / "one")) as s:
        DatasetVersion.create_new_dataset("solo", store=s)
        assert _name(s, "@current") == "solo@Current:0"


def test_version_id_with_and_without_dataset(store: vstore.Store) -> None:
    v1 = DatasetVersion.get_version(dataset_name="cars", version_name="v1", store=store)
    assert _name(store, v1.version_id) == "cars@v1:3"
    assert _name(store, f"cars@{v1.version_id}") == "cars@v1:3"
    assert _name(store, f"{v1.version_id}~0") == "cars@v1:3"


def test_commit_prefix_of_a_latest_state(store: vstore.Store) -> None:
    v2 = DatasetVersion.get_version(dataset_name="cars", version_name="v2", store=store)
    r = resolve(store, v2.commit_id[:10])
    assert (r.version_name, r.is_head) == ("v2", True)
    assert resolve(store, f"cars@{v2.commit_id[:8]}").version_name == "v2"


def test_commit_prefix_of_an_older_state_is_read_only(store: vstore.Store) -> None:
    draft = DatasetVersion.get_current(dataset_name="cars", store=store)
    old_commit = draft.commit_id
    draft.add_frames(_frames(1, 9))
    r = resolve(store, old_commit[:12])
    assert r.version_name == "Current" and not r.is_head
    assert store.repo.layers.count(r.tree) == 6
    assert resolve(store, "cars").is_head
    with pytest.raises(CliError, match="older state") as err:
        r.version()
    assert err.value.hint is not None and draft.version_id in err.value.hint


def test_ambiguous_and_unknown(store: vstore.Store) -> None:
    with pytest.raises(CliError, match="no dataset named 'trucks'"):
        resolve(store, "trucks")
    with pytest.raises(CliError, match="no dataset named"):
        resolve(store, "trucks@v1")
    with pytest.raises(CliError, match="has no version named 'v9'") as err:
        resolve(store, "cars@v9")
    assert err.value.hint == "list its versions with `vstore version list cars`"
    with pytest.raises(CliError, match="no dataset, version id or commit"):
        resolve(store, "ffffffffffff")
    head = DatasetVersion.get_current(dataset_name="cars", store=store).commit_id
    with pytest.raises(CliError, match="no dataset named"):
        resolve(store, head[:3])  # fewer than 4 hex digits is not a commit prefix
