"""``vstore doctor``: versions, configuration and origins, the store, and credential sources.

Secrets are never read into the report: for each cloud, the SDK is asked which source
its credentials come from (environment, a profile file, a metadata server...), and only
that name is kept.
"""

from __future__ import annotations

import os
import platform
import sys
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from vstore.cli.config import mask

if TYPE_CHECKING:
    from vstore.cli.context import Env

__all__ = ["PACKAGES", "diagnose", "render"]

PACKAGES = (
    "vstore", "click", "tqdm", "lmdb", "msgspec", "msgpack", "blake3", "zstandard", "fsspec",
    "s3fs", "botocore", "gcsfs", "google-auth", "adlfs", "azure-identity", "azure-storage-blob",
)
_TIMEOUT = 8.0
_AZURE_ENV = (
    ("AZURE_STORAGE_CONNECTION_STRING", "connection string"),
    ("AZURE_STORAGE_ACCOUNT_KEY", "account key"),
    ("AZURE_STORAGE_SAS_TOKEN", "SAS token"),
    ("AZURE_STORAGE_CLIENT_SECRET", "service principal (AZURE_STORAGE_CLIENT_*)"),
    ("AZURE_CLIENT_SECRET", "service principal (AZURE_CLIENT_*)"),
)


def _version(name: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return None


def diagnose(env: Env, credentials: bool = True) -> dict[str, Any]:
    """Everything ``vstore doctor`` reports, as the documented JSON object."""
    cfg = env.config
    return {
        "vstore": _version("vstore"),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "packages": {name: _version(name) for name in PACKAGES},
        "repository": str(cfg.repo_root) if cfg.repo_root else None,
        "config": [{"key": s.key, "value": s.shown, "origin": s.origin, "level": s.level}
                   for s in cfg.settings()],
        "environment": {k: mask(k, v) for k, v in sorted(os.environ.items())
                        if k.startswith("VSTORE_")},
        "store": _store(env),
        "credentials": _credentials() if credentials else [],
    }


def _store(env: Env) -> dict[str, Any]:
    url = env.config.get("core.url")
    out: dict[str, Any] = {"url": url, "kind": None, "ok": False, "error": None,
                           "datasets": None, "atomic_create": None, "durable": None}
    if not url:
        out["error"] = "no store configured"
        return out
    try:
        store = env.store()
        backend = store.repo.backend
        out.update(
            url=store.url, kind="lmdb" if "://" not in url or url.startswith("lmdb://")
            else "fsspec", ok=True, datasets=len(store.datasets()),
            atomic_create=backend.atomic_create, durable=backend.durable,
        )
    except Exception as exc:  # the report shows any failure to open, whatever its type
        out["error"] = f"{type(exc).__name__}: {exc}"
    return out


def _credentials() -> list[dict[str, Any]]:
    """Ask each installed cloud SDK at once; one that does not answer in time is reported."""
    checks = (("aws", "botocore", _aws), ("gcp", "google-auth", _gcp), ("azure", "adlfs", _azure))
    results: dict[str, dict[str, Any]] = {}
    threads = []

    def run(provider: str, fn: Callable[[], dict[str, Any]]) -> None:
        try:
            results[provider] = fn()
        except Exception as exc:  # an SDK failing to resolve is a finding, not a crash
            results[provider] = {"source": None, "detail": f"{type(exc).__name__}: {exc}"}

    for provider, pkg, fn in checks:
        if _version(pkg) is None:
            results[provider] = {"source": None, "detail": f"{pkg} is not installed"}
            continue
        # Daemon threads: an SDK stuck on a metadata server must not keep the CLI alive.
        t = threading.Thread(target=run, args=(provider, fn), daemon=True)
        t.start()
        threads.append(t)
    deadline = time.monotonic() + _TIMEOUT
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    late = {"source": None, "detail": f"no answer within {_TIMEOUT:.0f}s"}
    return [{"provider": p, **results.get(p, late)} for p, _pkg, _fn in checks]


def _aws() -> dict[str, Any]:
    import botocore.session  # type: ignore[import-untyped, unused-ignore]

    session = botocore.session.get_session()
    creds = session.get_credentials()
    profile = session.get_config_variable("profile") or "default"
    region = session.get_config_variable("region")
    if creds is None:
        return {"source": None, "detail": f"no credentials found (profile {profile})"}
    return {"source": str(creds.method), "detail": f"profile {profile}, region {region}"}


def _gcp() -> dict[str, Any]:
    import google.auth
    from google.auth.exceptions import DefaultCredentialsError

    try:
        creds, project = google.auth.default()
    except DefaultCredentialsError:
        return {"source": None, "detail": "no application default credentials found"}
    kind = f"{type(creds).__module__}.{type(creds).__name__}"
    names = {
        "google.oauth2.service_account.Credentials": "service account key file",
        "google.oauth2.credentials.Credentials": "user credentials (gcloud auth "
        "application-default login)",
        "google.auth.compute_engine.credentials.Credentials": "compute engine metadata server",
        "google.auth.external_account.Credentials": "workload identity federation",
    }
    source = names.get(kind, kind)
    if os.environ.get("GOOGLE_APPLICATION_CREDENTIALS"):
        source += " via env GOOGLE_APPLICATION_CREDENTIALS"
    return {"source": source, "detail": f"project {project}"}


def _azure() -> dict[str, Any]:
    for var, what in _AZURE_ENV:
        if os.environ.get(var):
            return {"source": f"{what} (env {var})",
                    "detail": f"account {os.environ.get('AZURE_STORAGE_ACCOUNT_NAME')}"}
    if (os.environ.get("AZURE_STORAGE_ANON") or "").lower() == "true":
        return {"source": "anonymous (env AZURE_STORAGE_ANON)", "detail": ""}
    has_identity = _version("azure-identity") is not None
    return {
        "source": "DefaultAzureCredential chain" if has_identity else None,
        "detail": "environment, workload or managed identity, Azure CLI: resolved at the "
        "first request" if has_identity else "no credentials in the environment",
    }


def render(env: Env, data: dict[str, Any]) -> None:
    """The human-readable report."""
    from vstore.cli.output import plural, table

    env.echo(f"vstore {data['vstore']}  (python {data['python']}, {data['platform']})")
    env.echo("")
    env.echo("packages")
    rows = [[f"  {k}", v or env.style("not installed", dim=True)]
            for k, v in data["packages"].items()]
    for line in table(rows):
        env.echo(line)
    env.echo("")
    env.echo(f"repository  {data['repository'] or '(none)'}")
    env.echo("config")
    for line in table([[f"  {c['key']}", c["value"], c["origin"]] for c in data["config"]]):
        env.echo(line)
    if data["environment"]:
        env.echo("environment")
        for k, v in data["environment"].items():
            env.echo(f"  {k}={v}")
    s = data["store"]
    env.echo("")
    if s["ok"]:
        env.echo(f"store  {s['url']} ({s['kind']}): {env.style('ok', fg='green')}, "
                 f"{plural(s['datasets'], 'dataset')}, atomic creates: {s['atomic_create']}")
    else:
        env.echo(f"store  {s['url'] or '-'}: {env.style(s['error'] or 'not open', fg='red')}")
    if data["credentials"]:
        env.echo("")
        env.echo("credentials")
        rows = [[f"  {c['provider']}", c["source"] or "-", c["detail"]]
                for c in data["credentials"]]
        for line in table(rows):
            env.echo(line)
