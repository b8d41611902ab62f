"""A loopback HTTP proxy in front of a real emulator: counts requests, injects faults.

Clients are pointed at the proxy's URL instead of the emulator's; every request is
forwarded unchanged (the ``Host`` header too, so signatures still verify) and
recorded as ``(method, unquoted path)``. A fault rule can answer a matching
request with an error instead of forwarding it, delay it, or forward it and then
drop the connection without a reply (the write landed, the client never hears).
"""

from __future__ import annotations

import http.client
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote

__all__ = ["CountingProxy", "Fault"]

_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer",
        "upgrade", "expect", "content-length"}


@dataclass
class Fault:
    """What to do to the next ``times`` requests that ``match`` accepts.

    Attributes:
        match: ``(method, path) -> bool``.
        action: ``"status"`` (answer ``status`` with ``body``), ``"drop"`` (forward,
            then close without a reply) or ``"delay"`` (wait ``delay`` s, then forward).
        times: how many matching requests it applies to.
    """

    match: Callable[[str, str], bool]
    action: str = "status"
    status: int = 503
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    times: int = 1
    hits: int = 0


class CountingProxy:
    """Forwards to ``upstream`` (``host:port``); records requests; applies faults."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.requests: list[tuple[str, str]] = []
        #: request and response body bytes that went through
        self.bytes_up = 0
        self.bytes_down = 0
        self.faults: list[Fault] = []
        #: request headers (lower case) removed before forwarding
        self.strip_headers: set[str] = set()
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def _body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    out = b""
                    while True:
                        size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                        if size == 0:
                            self.rfile.readline()
                            return out
                        out += self.rfile.read(size)
                        self.rfile.readline()
                n = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(n) if n else b""

            def _handle(self) -> None:
                body = self._body()
                method, path = self.command, unquote(self.path)
                fault = proxy._fault(method, path)
                with proxy._lock:
                    proxy.requests.append((method, path))
                    proxy.bytes_up += len(body)
                if fault is not None and fault.action == "status":
                    self._reply(fault.status, fault.headers, fault.body)
                    return
                if fault is not None and fault.action == "delay":
                    time.sleep(fault.delay)
                status, headers, data = proxy._forward(method, self.path, self.headers, body)
                with proxy._lock:
                    proxy.bytes_down += len(data)
                if fault is not None and fault.action == "drop":
                    self.close_connection = True
                    return
                self._reply(status, headers, data)

            def _reply(self, status: int, headers: dict[str, str], data: bytes) -> None:
                self.send_response_only(status)
                length = headers.pop("__length__", None)
                for k, v in headers.items():
                    self.send_header(k, v)
                if self.command == "HEAD":
                    self.send_header("Content-Length", length or str(len(data)))
                    data = b""
                elif status not in (204, 304):
                    self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if data:
                    self.wfile.write(data)

            do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = do_PATCH = do_OPTIONS = _handle

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def _fault(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for f in self.faults:
                if f.hits < f.times and f.match(method, path):
                    f.hits += 1
                    return f
        return None

    def _forward(
        self, method: str, path: str, headers: object, body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        conn = http.client.HTTPConnection(self.upstream, timeout=60)
        try:
            conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
            for k, v in headers.items():  # type: ignore[attr-defined]
                if k.lower() not in _HOP and k.lower() not in self.strip_headers:
                    conn.putheader(k, v)
            if body or method in ("PUT", "POST", "PATCH"):
                conn.putheader("Content-Length", str(len(body)))
            conn.endheaders(body or None)
            resp = conn.getresponse()
            data = resp.read()
            out = {k: v for k, v in resp.getheaders() if k.lower() not in _HOP}
            if method == "HEAD" and resp.getheader("Content-Length"):
                out["__length__"] = resp.getheader("Content-Length") or "0"
            return resp.status, out, data
        finally:
            conn.close()

    # -- test helpers ------------------------------------------------------------------

    def reset(self) -> None:
        """Forget recorded requests and faults."""
        with self._lock:
            self.requests.clear()
            self.faults.clear()
            self.bytes_up = self.bytes_down = 0

    def count(self, pred: Callable[[str, str], bool] | None = None) -> int:
        """How many recorded requests ``pred`` accepts (all if None)."""
        with self._lock:
            return sum(1 for m, p in self.requests if pred is None or pred(m, p))

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
