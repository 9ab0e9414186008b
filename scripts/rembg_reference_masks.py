#!/usr/bin/env python3
"""Writes rembg's own masks for the test photos, the reference imgforge's masks are compared to.

    pip install rembg onnxruntime
    python3 scripts/rembg_reference_masks.py            # writes tests/fixtures/rembg/*_u2netp_mask.png
    python3 scripts/rembg_reference_masks.py --time     # also times rembg on each photo

rembg runs offline on the shared model file: U2NET_HOME points at ../shared/models, where
rembg finds u2netp.onnx by its md5 instead of downloading it.
"""

import argparse
import io
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
PHOTOS = ["astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg", "motorcycle_left.png"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="u2netp")
    parser.add_argument("--models-dir", type=Path, default=SHARED / "models")
    parser.add_argument("--photos-dir", type=Path, default=SHARED / "testdata")
    parser.add_argument("--out", type=Path, default=ROOT / "tests" / "fixtures" / "rembg")
    parser.add_argument("--time", action="store_true", help="time rembg (median of 5 runs)")
    args = parser.parse_args()

    # Before rembg is imported: it reads the variable when sessions look for their file.
    os.environ["U2NET_HOME"] = str(args.models_dir.resolve())
    from PIL import Image
    from rembg import new_session, remove

    session = new_session(args.model)
    args.out.mkdir(parents=True, exist_ok=True)
    for photo in PHOTOS:
        data = (args.photos_dir / photo).read_bytes()
        mask = remove(Image.open(io.BytesIO(data)), session=session, only_mask=True)
        target = args.out / f"{Path(photo).stem}_{args.model}_mask.png"
        mask.convert("L").save(target, optimize=True)
        shown = target.relative_to(ROOT) if target.is_relative_to(ROOT) else target
        line = f"{photo:<20} {mask.size[0]}x{mask.size[1]} -> {shown}"
        if args.time:
            line += "  " + timings(data, session, remove)
        print(line)
    return 0


def timings(data: bytes, session, remove) -> str:
    """Median milliseconds of the mask alone and of a full cut-out (decode to PNG bytes)."""
    from PIL import Image

    def median_ms(work) -> float:
        work()  # warm-up
        runs = []
        for _ in range(5):
            started = time.perf_counter()
            work()
            runs.append((time.perf_counter() - started) * 1e3)
        return statistics.median(runs)

    mask_ms = median_ms(lambda: remove(Image.open(io.BytesIO(data)), session=session, only_mask=True))
    cutout_ms = median_ms(lambda: remove(data, session=session))
    return f"rembg mask {mask_ms:.1f} ms, cut-out png {cutout_ms:.1f} ms"


if __name__ == "__main__":
    sys.exit(main())
