"""verify, gc, doctor and completion."""

from __future__ import annotations

from pathlib import Path

from cli_helpers import Run, run_json

import vstore
from vstore import DatasetVersion
from vstore.engine.codec import ObjectKind


def test_verify_finds_a_missing_object(run: Run, repo: Path) -> None:
    assert run_json(run, "verify", "verify")["ok"] is True
    with vstore.open(str(repo / ".vstore")) as s:
        v = DatasetVersion.get_current(dataset_name="cars", store=s)
        tree = s.registry.version(v.dataset_id, v.version_id).commit.tree  # type: ignore[union-attr]
        assert s.repo.backend.delete_objects([tree]) == 1
    r = run("verify", ok=False)
    assert r.exit_code == 1
    assert f"missing  {tree.hex()}" in r.stdout
    assert r.stderr.startswith("error: 1 missing and 0 corrupt objects\nHint: ")
    data = run_json_fail(run, "verify")
    assert data["ok"] is False and data["missing"] == [tree.hex()]


def run_json_fail(run: Run, *args: str) -> dict[str, object]:
    import json

    from vstore.cli.schemas import check

    r = run(*args, "--json", ok=False)
    data: dict[str, object] = json.loads(r.stdout)
    assert not check(args[0], data)
    return data


def test_gc_grace_and_dry_run(run: Run, repo: Path) -> None:
    with vstore.open(str(repo / ".vstore")) as s:
        junk = s.repo.objects.put(ObjectKind.BLOB, b"nothing names me")
    young = run_json(run, "gc", "gc")
    assert (young["unreachable"], young["too_young"], young["deleted"]) == (1, 1, 0)
    assert young["grace_seconds"] == 86400
    dry = run_json(run, "gc", "gc", "--dry-run", "--grace", "0")
    assert dry["candidates"] == [junk.hex()] and dry["deleted"] == 0
    run("config", "set", "gc.grace", "0s")
    done = run_json(run, "gc", "gc")
    assert done["deleted"] == 1
    assert run_json(run, "gc", "gc")["unreachable"] == 0
    assert run_json(run, "verify", "verify")["ok"] is True
    assert run("gc", "--grace", "soon", ok=False).exit_code == 2


def test_doctor_names_credential_sources_never_secrets(run: Run, repo: Path) -> None:
    run("config", "set", "storage.secret", "config-secret-value")
    env = {
        "AWS_ACCESS_KEY_ID": "AKIAFAKEACCESSKEY1",
        "AWS_SECRET_ACCESS_KEY": "aws-secret-value-123",
        "AWS_EC2_METADATA_DISABLED": "true",
        "GOOGLE_APPLICATION_CREDENTIALS": str(repo / "no-such-key.json"),
        "AZURE_STORAGE_ACCOUNT_KEY": "azure-secret-value",
        "VSTORE_CACHE_SIZE": "1000000",
    }
    r = run("doctor", "--json", env=env)
    for secret in ("AKIAFAKEACCESSKEY1", "aws-secret-value-123", "azure-secret-value",
                   "config-secret-value"):
        assert secret not in r.stdout and secret not in r.stderr
    import json

    from vstore.cli.schemas import check

    data = json.loads(r.stdout)
    assert not check("doctor", data)
    assert data["store"]["ok"] is True and data["store"]["kind"] == "lmdb"
    assert data["packages"]["click"] and data["vstore"]
    assert data["environment"]["VSTORE_CACHE_SIZE"] == "1000000"
    creds = {c["provider"]: c for c in data["credentials"]}
    assert creds["aws"]["source"] == "env"
    assert "account key" in creds["azure"]["source"]
    assert creds["gcp"]["source"] is None
    origins = {c["key"]: c["origin"] for c in data["config"]}
    assert origins["core.url"].startswith("file:") and origins["core.color"] == "default"
    text = run("doctor", "--skip-credentials").stdout
    assert "store  " in text and ": ok" in text and "credentials" not in text


def test_doctor_without_a_store(run: Run, home: Path) -> None:
    data = run_json(run, "doctor", "doctor", "--skip-credentials")
    assert data["store"]["ok"] is False and data["repository"] is None


def test_completion_scripts_and_candidates(run: Run, repo: Path) -> None:
    for shell in ("bash", "zsh", "fish"):
        assert "_VSTORE_COMPLETE" in run("completion", shell).stdout
    assert "_VSTORE_COMPLETE" in run("completion", env={"SHELL": "/bin/zsh"}).stdout
    assert run("completion", env={"SHELL": "/bin/tcsh"}, ok=False).exit_code == 2
    run("snapshot", "--name", "v1")
    got = run(env={"_VSTORE_COMPLETE": "bash_complete", "COMP_WORDS": "vstore ls ca",
                   "COMP_CWORD": "2"})
    assert set(got.stdout.split()) >= {"plain,cars", "plain,cars@v1", "plain,cars@Current"}
    cmds = run(env={"_VSTORE_COMPLETE": "bash_complete", "COMP_WORDS": "vstore sn",
                    "COMP_CWORD": "1"})
    assert "plain,snapshot" in cmds.stdout.split()
