"""init, config (levels, environment overrides, origins), remotes in the config."""

from __future__ import annotations

import json
from pathlib import Path

from cli_helpers import Run, run_json


def test_init_creates_the_repository_and_store(run: Run, home: Path) -> None:
    data = run_json(run, "init", "init")
    assert data["created"] is True and data["dataset"] is None
    assert Path(data["repository"]) == home / ".vstore"
    assert (home / ".vstore" / "config").is_file()
    assert (home / ".vstore" / "data.mdb").is_file()
    again = run("init")
    assert "Reinitialized existing vstore repository" in again.stdout


def test_init_with_url_and_subdirectories_find_it(run: Run, home: Path) -> None:
    result = run("init", "elsewhere.vstore", "--dataset", "cars")
    assert "store: " in result.stdout and "elsewhere.vstore" in result.stdout
    (home / "deep" / "er").mkdir(parents=True)
    got = run("-C", "deep/er", "config", "get", "core.url", "--show-origin")
    origin, value = got.stdout.strip().split("\t")
    assert value == str(home / "elsewhere.vstore")  # relative to the repository
    assert origin == f"file:{home / '.vstore' / 'config'}"
    assert run("-C", "deep/er", "config", "get", "core.dataset").stdout.strip() == "cars"
    clash = run("init", "other.vstore", ok=False)
    assert clash.exit_code == 1 and "already points at" in clash.stderr


def test_levels_and_environment_override(run: Run, home: Path) -> None:
    run("config", "set", "--user", "gc.grace", "2h")
    assert run("config", "get", "gc.grace").stdout.strip() == "2h"  # no repository: user
    run("init")
    run("config", "set", "gc.grace", "3h")  # inside a repository: the repository file
    got = run_json(run, "config get", "config", "get", "gc.grace")
    assert (got["value"], got["level"]) == ("3h", "repository")
    env = run_json_env(run, {"VSTORE_GC_GRACE": "4h"}, "config", "get", "gc.grace")
    assert (env["value"], env["origin"], env["level"]) == ("4h", "env:VSTORE_GC_GRACE", "env")
    run("config", "unset", "gc.grace")
    assert run("config", "get", "gc.grace").stdout.strip() == "2h"
    run("config", "unset", "gc.grace", "--user")
    got = run_json(run, "config get", "config", "get", "gc.grace")
    assert (got["value"], got["origin"]) == ("1d", "default")


def run_json_env(run: Run, env: dict[str, str], *args: str) -> dict[str, object]:
    result = run(*args, "--json", env=env)
    data: dict[str, object] = json.loads(result.stdout)
    return data


def test_store_flag_beats_environment(run: Run, home: Path) -> None:
    got = run_json_env(run, {"VSTORE_URL": "/from/env"}, "-S", "/from/flag", "config", "get",
                       "core.url")
    assert (got["value"], got["origin"]) == ("/from/flag", "command line")
    got = run_json_env(run, {"VSTORE_URL": "/from/env"}, "config", "get", "core.url")
    assert got["origin"] == "env:VSTORE_URL"
    (home / "sub").mkdir()
    got = run_json_env(run, {}, "-C", "sub", "-S", "rel.vstore", "config", "get", "core.url")
    assert got["value"] == str(home / "sub" / "rel.vstore")  # relative to -C, as in git


def test_list_shows_origins_and_masks_secrets(run: Run, home: Path) -> None:
    run("init")
    run("config", "set", "storage.secret", "hunter2")
    run("config", "set", "storage.endpoint_url", "http://127.0.0.1:9000")
    plain = run("config", "list")
    assert "storage.secret=****" in plain.stdout and "hunter2" not in plain.stdout
    assert "core.progress=auto" in plain.stdout
    shown = run("config", "list", "--show-origin").stdout
    assert f"file:{home / '.vstore' / 'config'}\tstorage.endpoint_url=" in shown
    assert "default\tcore.color=auto" in shown
    data = run_json(run, "config list", "config", "list")
    assert {s["key"] for s in data["settings"]} >= {"core.url", "storage.secret"}


def test_bad_keys_and_values_are_usage_errors(run: Run, home: Path) -> None:
    for args in (["config", "set", "--user", "core.nope", "1"],
                 ["config", "set", "--user", "core.progress", "sometimes"],
                 ["config", "set", "--user", "gc.grace", "soon"],
                 ["config", "get", "nope"]):
        r = run(*args, ok=False)
        assert r.exit_code == 2, args
        assert r.stderr.startswith("error: ") and "\nHint: " in r.stderr
    missing = run("config", "get", "core.dataset", ok=False)
    assert missing.exit_code == 1 and "is not set" in missing.stderr
    outside = run("config", "set", "--repository", "gc.grace", "1h", ok=False)
    assert outside.exit_code == 1 and "not inside a vstore repository" in outside.stderr


def test_remotes(run: Run, home: Path) -> None:
    run("init")
    run("remote", "add", "origin", "../shared.vstore")
    run("remote", "add", "backup", "memory://backup", "--user")
    data = run_json(run, "remote list", "remote", "list")
    urls = {r["name"]: r["url"] for r in data["remotes"]}
    assert urls == {"origin": str(home.parent / "shared.vstore"), "backup": "memory://backup"}
    dup = run("remote", "add", "origin", "x", ok=False)
    assert dup.exit_code == 1 and "exists" in dup.stderr
    assert run("remote", "add", "bad name", "x", ok=False).exit_code == 2
    run("remote", "remove", "origin")
    run("remote", "remove", "backup")
    assert run_json(run, "remote list", "remote", "list") == {"remotes": []}
    assert run("remote", "remove", "origin", ok=False).exit_code == 1


def test_no_repository_error(run: Run, home: Path) -> None:
    r = run("ls", ok=False)
    assert r.exit_code == 1
    assert r.stderr.splitlines() == [
        f"error: no vstore repository in {home} or its parents, and core.url is not set",
        "Hint: run `vstore init` here, pass --store URL, or set VSTORE_URL",
    ]
