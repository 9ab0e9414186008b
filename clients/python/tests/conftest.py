"""Starts the real imgforge binary (IMGFORGE_BIN, or target/debug/imgforge of this repository)
on port 0 for the tests, and reads its addresses from its JSON start-up log line."""

from __future__ import annotations

import http.server
import json
import os
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest

import openai_images_emulator
from photos import png

REPO = Path(__file__).resolve().parents[3]


@dataclass
class Server:
    grpc_addr: str
    http_addr: str
    # Port of a loopback HTTP server that serves tests.photos.png(640, 480) at /photo.jpg;
    # the imgforge server resolves example.com to it (fetch.resolve + fetch.allow).
    photo_port: int

    def channel(self) -> grpc.Channel:
        return grpc.insecure_channel(
            self.grpc_addr, options=[("grpc.max_receive_message_length", 64 << 20)]
        )


def _binary() -> Path:
    path = Path(os.environ.get("IMGFORGE_BIN", REPO / "target" / "debug" / "imgforge"))
    if not path.is_file():
        pytest.fail(f"imgforge binary {path} not found: run cargo build, or set IMGFORGE_BIN")
    return path


class _PhotoHandler(http.server.BaseHTTPRequestHandler):
    photo = png(640, 480)

    def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
        if self.path != "/photo.jpg":
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "image/jpeg")
        self.send_header("Content-Length", str(len(self.photo)))
        self.end_headers()
        self.wfile.write(self.photo)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="session")
def server() -> Iterator[Server]:
    """A server on the embedded defaults: no cover generation backend."""
    yield from _serve("")


@pytest.fixture(scope="session")
def emulator() -> Iterator[openai_images_emulator.Emulator]:
    emulator = openai_images_emulator.start()
    try:
        yield emulator
    finally:
        emulator.shutdown()


@pytest.fixture(scope="session")
def cover_server(emulator: openai_images_emulator.Emulator) -> Iterator[Server]:
    """A server whose cover backend is the OpenAI images emulator (the README's settings)."""
    yield from _serve(
        "[providers.openai_images]\n"
        f'base_url = "{emulator.base_url}"\n'
        f'api_key = "{openai_images_emulator.API_KEY}"\n'
        "stream = false\n"
    )


def _serve(extra_config: str) -> Iterator[Server]:
    photos = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _PhotoHandler)
    threading.Thread(target=photos.serve_forever, daemon=True).start()
    photo_port = photos.server_address[1]
    with tempfile.TemporaryDirectory() as blobs:
        config = Path(blobs) / "imgforge.toml"
        config.write_text(
            '[fetch]\nallow = ["example.com"]\n[fetch.resolve]\n"example.com" = ["127.0.0.1"]\n'
            + extra_config
        )
        env = dict(
            os.environ,
            IMGFORGE__BLOB_STORE__PATH=blobs,
            IMGFORGE__TELEMETRY__LOG_FORMAT="json",
            RUST_LOG="info",
        )
        proc = subprocess.Popen(
            [str(_binary()), "--config", str(config), "serve", "--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0"],
            env=env,
            stderr=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            text=True,
        )
        found: list[Server] = []
        ready = threading.Event()

        def read_log() -> None:
            assert proc.stderr is not None
            for line in proc.stderr:
                if not found:
                    try:
                        fields = json.loads(line).get("fields", {})
                    except ValueError:
                        continue
                    if "grpc_addr" in fields:
                        found.append(Server(fields["grpc_addr"], fields["http_addr"], photo_port))
                        ready.set()
            ready.set()

        threading.Thread(target=read_log, daemon=True).start()
        try:
            if not ready.wait(60) or not found:
                pytest.fail("the server did not log its gRPC address within 60 s")
            yield found[0]
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            photos.shutdown()


@pytest.fixture
def channel(server: Server) -> Iterator[grpc.Channel]:
    with server.channel() as channel:
        yield channel
