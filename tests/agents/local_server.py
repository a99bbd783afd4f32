"""An HTTP server on 127.0.0.1 for the tests of served policies: subclasses say what each request gets."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class LocalServer:
    """Records every POST as ``(path, parsed JSON body or None, time)`` and sends what :meth:`answer` returns.

    ``answer(path, body)`` returns ``(status, headers, body bytes)`` or, to send the body a byte
    at a time, ``(status, headers, body bytes, seconds between bytes)``. Use as a context manager;
    ``url`` ends in ``/v1``.
    """

    def __init__(self) -> None:
        self.requests: list[tuple[str, object, float]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's name)
                raw = self.rfile.read(int(self.headers["Content-Length"]))
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = None
                outer.requests.append((self.path, body, time.monotonic()))
                status, headers, data, *rest = outer.answer(self.path, body)
                drip = rest[0] if rest else 0
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                try:
                    if drip:
                        for b in data:
                            self.wfile.write(bytes([b]))
                            self.wfile.flush()
                            time.sleep(drip)
                    else:
                        self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def answer(self, path: str, body: object) -> tuple:
        """Return what the request at ``path`` with ``body`` gets."""
        raise NotImplementedError

    @property
    def times(self) -> list[float]:
        """Return when each request arrived (``time.monotonic``)."""
        return [t for _, _, t in self.requests]

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def json_reply(data: object, status: int = 200) -> tuple[int, dict[str, str], bytes]:
    """Return a JSON answer."""
    return status, {"Content-Type": "application/json"}, json.dumps(data).encode()
