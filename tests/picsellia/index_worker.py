"""Subprocess entry points for the persisted asset index tests.

Run as ``python index_worker.py COMMAND STORE VERSION``. Where persisted indexes go comes
from the environment (``VSTORE_CACHE_DIR``, ``VSTORE_CACHE_SIZE``), as for any user. Every
command works on a version of dataset ``cars`` and prints one JSON line.

* ``probe``: how the version's index was obtained (``origin``: built, loaded or patched) and
  what a set of listings, queries, lookups, stats and a split answer.
* ``probe-on-go``: print ``ready``, wait for ``go`` on stdin, then probe (the test starts
  several at once).
* ``write``: tag, delete, add and edit assets, the way a pipeline step would.
* ``edit-many``: 70 times, tag one asset and list again, the way an annotation tool would.

The tests load this file by path (:func:`load`) to probe in their own process too.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

HERE = Path(__file__).resolve()

#: Queries over every kind of path: labels per kind, statuses, workers, tags, metadata of
#: every type (True, 1 and 1.0 must stay apart), nested metadata, fields, and/or/not.
QUERIES = [
    'annotations.rectangles.label.name = "car"',
    'annotations.polygons.label.name = "person" and camera = "cam-1"',
    'annotations.label.name in ("bus", "person") and not tags.name = "hard"',
    'annotations.status = "ACCEPTED" or annotations.worker = "alice"',
    'annotations.id like "%0%"',
    'tags.name = "hard" or tags.name = "late"',
    "flag = true",
    "speed = 1",
    "speed = true",
    "speed >= 1 and speed < 3",
    "speed = null",
    'zone = "a"',
    "metadata.deep.k = 1",
    "custom_metadata.camera != \"cam-0\"",
    'type = "VIDEO"',
    'filename like "img000%"',
    "width > 600 and height = 480",
    'data.id = "nope" or id like "a001%"',
    'unknown = "x" or not (camera in ("cam-2", "cam-3"))',
]


def load() -> ModuleType:
    """Import this file as a module (for the tests)."""
    spec = importlib.util.spec_from_file_location("_vstore_index_test_worker", HERE)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def run(command: str, store: Path, env: dict[str, str], version: str = "v1",
        timeout: float = 300) -> dict[str, Any]:
    """Run one command in a new process and return its JSON line."""
    done = subprocess.run([sys.executable, str(HERE), command, str(store), version], env=env,
                          capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _ids(version: Any, **kwargs: Any) -> list[str]:
    from vstore import NoDataError

    try:
        return [a.id for a in version.list_assets(**kwargs)]
    except NoDataError:
        return []


def probe(version: Any) -> dict[str, Any]:
    """What a user reads of the version, and how its index was obtained."""
    from vstore.picsellia.index import asset_index

    assets = version.list_assets()
    origin = asset_index(version).origin  # the first listing made the index
    rows = [[a.id, a.filename, a.object_name, a.width, a.height, a.content_type, a.type.value,
             a.created_at.isoformat(), a.metadata, a.url] for a in assets]
    stats = version.retrieve_stats()
    train, test, val, *_ = version.train_test_val_split(random_seed=1)
    return {
        "origin": origin,
        "assets": rows,
        "queries": {q: _ids(version, q=q) for q in QUERIES},
        "tagged": _ids(version, tags=["hard"]),
        "page": _ids(version, order_by=["-filename"], limit=7, offset=3),
        "found": version.find_asset(filename="img00007.png").id,
        "stats": [stats.label_repartition, stats.nb_annotations],
        "split": [[a.id for a in part] for part in (train, test, val)],
    }


def write(version: Any) -> dict[str, Any]:
    """Tag ten assets, delete five, add three and re-write one with other metadata."""
    from vstore import SingleFrame

    version.list_assets(filenames=[f"img{i:05d}.png" for i in range(10, 20)]).add_tags("late")
    version.delete_frames([f"a{i:05d}" for i in range(30, 35)])
    new = [SingleFrame(id=f"n{i}", source=f"s3://bucket/new/extra{i}.png", width=10, height=10,
                       metadata={"camera": "cam-1", "speed": 1}) for i in range(3)]
    new.append(SingleFrame(id="a00040", source="s3://bucket/cam0/img00040.png", width=640,
                           height=480, metadata={"camera": "cam-9", "flag": True}))
    version.add_frames(new)
    return {"written": True}


def edit_many(version: Any, times: int = 70) -> dict[str, Any]:
    """Tag one asset, then list, ``times`` times; return the last listing's index origin."""
    from vstore.picsellia.index import asset_index

    for i in range(times):
        version.find_asset(filename=f"img{i:05d}.png").add_tags("seen")
        version.list_assets(q='tags.name = "seen"')
    return {"origin": asset_index(version).origin}


def spawn(command: str, store: Path, env: dict[str, str], version: str = "v1"
          ) -> subprocess.Popen[str]:
    """Start one command with pipes on stdin, stdout and stderr."""
    return subprocess.Popen([sys.executable, str(HERE), command, str(store), version], env=env,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def main(command: str, path: str, name: str) -> None:
    import vstore

    with vstore.open(path) as store:
        version = store.get_dataset("cars").get_version(name)
        if command == "probe-on-go":
            print("ready", flush=True)
            assert sys.stdin.readline().strip() == "go"
            command = "probe"
        actions = {"probe": probe, "write": write, "edit-many": edit_many}
        out = actions[command](version)
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:4])
