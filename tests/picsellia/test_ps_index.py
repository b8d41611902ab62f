"""The asset index follows every write, and is shared by versions with the same tree."""

from __future__ import annotations

from pathlib import Path

import vstore
from vstore.picsellia.index import asset_index


def test_the_index_follows_writes_from_both_surfaces(version: vstore.DatasetVersion) -> None:
    assert len(version.list_assets()) == 6
    version.add_frames([vstore.SingleFrame(id="hd", source="s3://bucket/new.jpg")])
    assert version.find_asset(filename="new.jpg").id == "hd"
    version.delete_frames(["hd"])
    assert len(version.list_assets()) == 6
    a = version.find_asset(filename="img2.png")
    a.add_tags("seen")
    assert [x.filename for x in version.list_assets(tags="seen")] == ["img2.png"]


def test_a_patch_costs_the_changes_and_a_fork_reuses_the_index(
        version: vstore.DatasetVersion) -> None:
    misses: list[int] = []
    asset_index(version)
    asset_index(version, on_miss=lambda: misses.append(1))
    assert misses == []  # the same tree: a hit
    version.find_asset(filename="img0.png").add_tags("x")
    patched = asset_index(version, on_miss=lambda: misses.append(1))
    assert misses == [1] and patched.lookup("filename", "img0.png")[0].tags == ("x",)
    fork, _ = version.fork("f", with_tags=True, with_labels=True, with_annotations=True)
    asset_index(fork, on_miss=lambda: misses.append(1))
    assert misses == [1]


def test_asset_download_and_data_tags(version: vstore.DatasetVersion, images: list[Path],
                                      tmp_path: Path) -> None:
    a = version.find_asset(filename="img1.png")
    a.download(tmp_path / "one")
    assert (tmp_path / "one" / "img1.png").read_bytes() == images[1].read_bytes()
    assert [t.name for t in a.get_data_tags()] == ["raw"]
    tag = version.get_or_create_asset_tag("picked")
    tag.attach_on([a, version])  # the version is not an asset: skipped
    assert a.get_tags() == [tag] and version.get_tags() == []
