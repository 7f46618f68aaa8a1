"""A local HTTP server on 127.0.0.1 serving generated weight files (no test reaches the internet).

``server.files[path] = bytes`` serves a file; paths in ``server.truncated`` announce the full
``Content-Length`` but send half the bytes and close; ``server.delay`` seconds pass before each body (a
slow transfer, so that concurrent downloads overlap). Also answers the Hugging Face hub's
``/<repo>/resolve/<revision>/<file>`` requests (``X-Repo-Commit`` and ``ETag`` headers), so
``huggingface_hub`` can be pointed at it with ``endpoint=``.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

COMMIT = "0123456789abcdef0123456789abcdef01234567"


class WeightsServer:
    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.truncated: set[str] = set()
        self.requests: list[str] = []
        self.delay = 0.0
        self.url = ""

    def hf_put(self, repo: str, filename: str, data: bytes) -> None:
        self.files[f"/{repo}/resolve/main/{filename}"] = data
        self.files[f"/{repo}/resolve/{COMMIT}/{filename}"] = data


def _handler(server: WeightsServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:  # keep pytest output clean
            pass

        def _send(self, body: bool) -> None:
            path = self.path.split("?", 1)[0]
            server.requests.append(f"{self.command} {path}")
            data = server.files.get(path)
            if data is None:
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("ETag", f'"{hashlib.sha256(data).hexdigest()}"')
            self.send_header("X-Repo-Commit", COMMIT)
            self.end_headers()
            if not body:
                return
            time.sleep(server.delay)
            if path in server.truncated:
                self.wfile.write(data[: len(data) // 2])
                self.wfile.flush()
                self.close_connection = True
                return
            self.wfile.write(data)

        def do_GET(self) -> None:  # noqa: N802
            self._send(body=True)

        def do_HEAD(self) -> None:  # noqa: N802
            self._send(body=False)

    return Handler


@contextmanager
def serve() -> Iterator[WeightsServer]:
    state = WeightsServer()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()


def publish_model(server: WeightsServer, name: str, state_dict: dict) -> tuple[str, str]:
    """Serve ``state_dict`` as the official-layout release ``/deit/<name>-<sha256[:8]>.pth`` on ``server``;
    returns (filename, sha256 prefix). Register it with ``deit.models.hub.register_weights``."""
    import io

    import torch

    buf = io.BytesIO()
    torch.save({"model": state_dict}, buf)
    data = buf.getvalue()
    prefix = hashlib.sha256(data).hexdigest()[:8]
    filename = f"{name}-{prefix}.pth"
    server.files[f"/deit/{filename}"] = data
    return filename, prefix


def forbid_internet(monkeypatch) -> None:  # noqa: ANN001 (pytest.MonkeyPatch)
    """Make any name resolution other than the loopback fail at once: a code path that would reach the
    internet fails loudly instead of trying (or retrying) a real host."""
    import socket

    real = socket.getaddrinfo

    def loopback_only(host, *args, **kwargs):  # noqa: ANN001, ANN202
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise OSError(f"test network guard: refused to resolve {host!r} (tests stay on 127.0.0.1)")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", loopback_only)


def record_connections(monkeypatch) -> list[object]:  # noqa: ANN001 (pytest.MonkeyPatch)
    """Refuse every socket connection (loopback included) and record each attempt's address: a test can
    then assert that a code path made none."""
    import socket

    attempts: list[object] = []

    def refuse(address: object) -> None:
        attempts.append(address)
        raise OSError(f"test network guard: refused to connect to {address!r}")

    monkeypatch.setattr(socket.socket, "connect", lambda self, address: refuse(address))
    monkeypatch.setattr(socket.socket, "connect_ex", lambda self, address: refuse(address))
    monkeypatch.setattr(socket, "create_connection", lambda address, *a, **k: refuse(address))
    return attempts
