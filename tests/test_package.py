"""Package-level promises: a light import, the demo runs end to end, the error tree."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import vstore
from vstore import errors


def test_import_vstore_stays_light() -> None:
    code = (
        "import sys, vstore, vstore.engine; "
        "print(' '.join(m for m in ('fsspec', 's3fs', 'gcsfs', 'adlfs', 'click', 'tqdm', "
        "'pyarrow', 'torch') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_the_demo_runs_end_to_end(tmp_path: Path) -> None:
    store = tmp_path / "demo.vstore"
    out = subprocess.run(
        [sys.executable, "-m", "vstore.demo", str(store)],
        capture_output=True, text=True, check=True, timeout=300,
    ).stdout
    assert "ingest   5,000 frames" in out
    assert "+20 added, ~25 modified, -25 deleted" in out
    assert "history  Current (committed) <- snapshot" in out
    assert out.count("clean") == 2
    assert "500 modified, 500 deleted" in out
    assert "200 added" in out
    assert "verify" in out and "clean" in out
    assert "99,700 records at head" in out


def test_every_error_is_a_vstore_error_and_its_builtin() -> None:
    assert issubclass(errors.NotFoundError, KeyError)
    assert issubclass(errors.AlreadyExistsError, ValueError)
    assert issubclass(errors.UsageError, ValueError)
    assert issubclass(errors.InvalidQueryError, ValueError)
    assert issubclass(errors.FormatError, ValueError)
    assert issubclass(errors.BackendError, OSError)
    for name in errors.__all__:
        cls = getattr(errors, name)
        assert issubclass(cls, errors.VStoreError)
        assert getattr(vstore, name) is cls
    assert str(errors.NotFoundError("no such dataset 'x'")) == "no such dataset 'x'"
    e = errors.InvalidQueryError("expected a value", position=7)
    assert e.position == 7 and "position 7" in str(e)
    f = errors.FormatError("bad box", path="a.json", line=3)
    assert str(f) == "a.json:3: bad box"
