"""The examples, run as a user runs them, against the real server."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from conftest import Server
from photos import png, png_size

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, timeout=120, check=False
    )


def test_resize_photo_example(server: Server, tmp_path: Path) -> None:
    photo = tmp_path / "photo.png"
    photo.write_bytes(png(800, 400))
    out = tmp_path / "small.png"
    done = run(str(EXAMPLES / "resize_photo.py"), "--addr", server.grpc_addr, str(photo), str(out), "--max-dim", "200")
    assert done.returncode == 0, done.stderr
    assert png_size(out.read_bytes()) == (200, 100)
    assert "800x400 -> 200x100 image/png" in done.stdout


def test_stream_cover_example_says_why_it_cannot_run(server: Server, tmp_path: Path) -> None:
    done = run(str(EXAMPLES / "stream_cover.py"), "--addr", server.grpc_addr, str(tmp_path / "cover.png"))
    assert done.returncode == 1
    assert "cover refused:" in done.stderr and "cover" in done.stderr.split(":", 2)[2]
    assert not (tmp_path / "cover.png").exists()
