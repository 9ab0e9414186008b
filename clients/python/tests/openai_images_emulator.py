"""A stand-in for an OpenAI-compatible images API on loopback, so the cover examples can stream
a real generation without the internet.

It serves only `POST /v1/images/generations` and answers with plain JSON (the server handles a
JSON answer even when it asked for a stream): one real PNG per requested image, of the
requested aspect at 1/16 of its size (the real size only costs time). A wrong API key is a 401
and a body that is not JSON a 400, as the real API answers them.

As a fixture: `start()` / `Emulator.base_url`. As a script (the Go tests use it):

    python tests/openai_images_emulator.py      # prints its base URL, serves until killed
"""

from __future__ import annotations

import base64
import http.server
import json
import sys
import threading
import time
from typing import Any

from photos import png

API_KEY = "sk-emulator"


class _Handler(http.server.BaseHTTPRequestHandler):
    # Set per server by start(): every generation request seen, for the tests to inspect.
    requests: list[dict[str, Any]]

    def do_POST(self) -> None:  # noqa: N802 (the stdlib's name)
        if self.path != "/v1/images/generations":
            self._error(404, "invalid_request_error", f"unknown path {self.path}")
            return
        length = int(self.headers.get("Content-Length") or 0)
        try:
            body = json.loads(self.rfile.read(length))
            if not isinstance(body, dict):
                raise ValueError("not an object")
        except ValueError:
            self._error(400, "invalid_request_error", "the body is not a JSON object")
            return
        self.requests.append(body)
        if self.headers.get("Authorization") != f"Bearer {API_KEY}":
            self._error(401, "invalid_request_error", "Incorrect API key provided")
            return
        try:
            width, height = (int(v) for v in str(body.get("size", "1024x1024")).split("x"))
            n = int(body.get("n", 1))
        except ValueError:
            self._error(400, "invalid_request_error", "size must be WIDTHxHEIGHT and n a number")
            return
        image = base64.b64encode(png(max(width // 16, 1), max(height // 16, 1))).decode()
        self._json(200, {"created": int(time.time()), "data": [{"b64_json": image}] * n})

    def _error(self, status: int, kind: str, message: str) -> None:
        self._json(status, {"error": {"message": message, "type": kind, "param": None, "code": None}})

    def _json(self, status: int, value: object) -> None:
        data = json.dumps(value).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        pass


class Emulator:
    def __init__(self) -> None:
        handler = type("Handler", (_Handler,), {"requests": []})
        self.requests: list[dict[str, Any]] = handler.requests
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.base_url = f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def serve_forever(self) -> None:
        self._server.serve_forever()

    def shutdown(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def start() -> Emulator:
    """An emulator serving on a daemon thread."""
    emulator = Emulator()
    threading.Thread(target=emulator.serve_forever, daemon=True).start()
    return emulator


if __name__ == "__main__":
    emulator = Emulator()
    print(emulator.base_url, flush=True)
    try:
        emulator.serve_forever()
    except KeyboardInterrupt:
        pass
    sys.exit(0)
