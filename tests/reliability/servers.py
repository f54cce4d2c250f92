"""A hostile HTTP server on 127.0.0.1 for the network cases: slow, failing, oversized and redirecting answers.

Paths:

- `/image.png`: a small PNG; `/flaky.png`: HTTP 500 for the first two requests, then the PNG;
- `/500.png`, `/404.png`: those errors, always;
- `/trickle-headers.png`: the status line and then one header byte every 50 ms, never finishing the headers;
- `/trickle-body.png`: headers at once, then one body byte every 50 ms of a declared 10 kB;
- `/hang.png`: accepts and sends nothing; `/short.png`: declares 1000 bytes, sends 10, closes;
- `/huge-declared.png`: `Content-Length` of 10 GB; `/huge-stream.png`: an endless body without a length;
- `/to-ftp.png`: a redirect to `ftp://`; `/to-other-host.png`: a redirect to the same server named `localhost`;
- any path of `files` (given to the server): those bytes.

Every slow answer stops when the server stops, so no thread outlives a test.
"""

from __future__ import annotations

import io
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self

from PIL import Image


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 6), (200, 40, 0)).save(buffer, format="PNG")
    return buffer.getvalue()


PNG = _png()
_TICK = 0.05


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):  # one branch per hostile behaviour, listed in the module docstring
        server: HostileServer = self.server.owner
        with server.lock:
            server.hits[self.path] += 1
            hits = server.hits[self.path]
        stopped = server.stopped
        try:
            if self.path in server.files:
                self._send(200, server.files[self.path])
            elif self.path == "/image.png":
                self._send(200, PNG)
            elif self.path == "/flaky.png":
                self._send(500, b"busy") if hits <= 2 else self._send(200, PNG)
            elif self.path == "/500.png":
                self._send(500, b"broken")
            elif self.path == "/404.png":
                self._send(404, b"not found")
            elif self.path == "/trickle-headers.png":
                self.wfile.write(b"HTTP/1.1 200 OK\r\n")
                while not stopped.wait(_TICK):
                    self.wfile.write(b"X")
                    self.wfile.flush()
            elif self.path == "/trickle-body.png":
                self._headers(200, 10_000)
                while not stopped.wait(_TICK):
                    self.wfile.write(b"\0")
                    self.wfile.flush()
            elif self.path == "/hang.png":
                stopped.wait(60)
            elif self.path == "/short.png":
                self._headers(200, 1000)
                self.wfile.write(PNG[:10])
                self.close_connection = True
            elif self.path == "/huge-declared.png":
                self._headers(200, 10**10)
            elif self.path == "/huge-stream.png":
                self._headers(200, None)
                chunk = b"\0" * 2**16
                while not stopped.is_set():
                    self.wfile.write(chunk)
            elif self.path == "/to-ftp.png":
                self._redirect("ftp://127.0.0.1/image.png")
            elif self.path == "/to-other-host.png":
                self._redirect(f"http://localhost:{self.server.server_address[1]}/image.png")
            else:
                self._send(404, b"not found")
        except OSError:  # the client gave up, as it should
            pass

    def _headers(self, status: int, length: int | None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "image/png")
        if length is not None:
            self.send_header("Content-Length", str(length))
        else:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()

    def _send(self, status: int, body: bytes) -> None:
        self._headers(status, len(body))
        self.wfile.write(body)

    def _redirect(self, location: str) -> None:
        self.send_response(302)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


class HostileServer:
    """The server, as a context manager: `url` is its base URL; `hits` counts the requests per path; `files`
    maps more paths to the bytes they answer with."""

    def __init__(self, files: dict[str, bytes] | None = None):
        self.files = dict(files or {})
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.daemon_threads = True
        self.httpd.owner = self
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.lock = threading.Lock()
        self.hits: Counter[str] = Counter()
        self.stopped = threading.Event()
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stopped.set()
        self.httpd.shutdown()
        self.httpd.server_close()
