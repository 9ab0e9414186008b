"""The examples, run as a user runs them, against the real server."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from conftest import Server
from openai_images_emulator import Emulator
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


def test_stream_cover_example_streams_a_cover(
    cover_server: Server, emulator: Emulator, tmp_path: Path
) -> None:
    out = tmp_path / "cover.png"
    seen = len(emulator.requests)
    done = run(str(EXAMPLES / "stream_cover.py"), "--addr", cover_server.grpc_addr, str(out))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    kinds = [line.split(" ", 1)[0].rstrip(",") for line in lines]
    # queued first, then running, then completed and the saved file (previews are optional).
    assert kinds[0] == "queued", lines
    assert "running" in kinds, lines
    assert kinds.index("running") < kinds.index("completed") == len(kinds) - 2, lines
    assert lines[-1].startswith("cover ") and lines[-1].endswith(f"written to {out}"), lines
    size = png_size(out.read_bytes())
    assert lines[-2] == f"completed {size[0]}x{size[1]}", lines
    # The example's attributes reached the backend as the prompt.
    prompts = [str(r.get("prompt", "")).lower() for r in emulator.requests[seen:]]
    assert len(prompts) == 1 and "black" in prompts[0] and "slim" in prompts[0], prompts
