#!/usr/bin/env python3
"""Tencent's ncnn running Real-ESRGAN, for `cargo bench --bench fix_vs_ncnn`.

Loads the same `.param`/`.bin` files imgforge reads, on the CPU (`opt.use_vulkan_compute =
False`, `opt.num_threads` = --threads), and upscales each image given the way
realesrgan-ncnn-vulkan feeds the network: RGB scaled to [0, 1] (`substract_mean_normalize`
with norm 1/255), blob `data` in, blob `output` out, clamped to [0, 1], times 255, rounded.
The whole image goes through the network at once (no tiles), so its output is the reference
imgforge's tiled output is compared with.

For each (model, image) pair: --runs timed calls after --warmup untimed ones (median and all
samples in ms, the network's work only: input conversion, extraction, output conversion),
and the result written as PNG to --out-dir/<model>__<image stem>.png. Peak RSS is
`ru_maxrss` (KiB) after all runs. Prints one JSON document on stdout.

Needs `pip install ncnn numpy pillow`. Exits with status 3 when ncnn cannot be imported, so
the caller can skip with a reason instead of failing.
"""

import argparse
import json
import resource
import statistics
import sys
import time
from pathlib import Path


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--models-dir", required=True, type=Path)
    parser.add_argument("--model", action="append", required=True)
    parser.add_argument("--image", action="append", required=True, type=Path)
    parser.add_argument("--out-dir", required=True, type=Path)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1)
    args = parser.parse_args()
    try:
        import ncnn
        import numpy as np
        from PIL import Image
    except ImportError as e:
        print(f"ncnn is not importable: {e}", file=sys.stderr)
        sys.exit(3)

    args.out_dir.mkdir(parents=True, exist_ok=True)
    results = []
    for model in args.model:
        net = ncnn.Net()
        net.opt.use_vulkan_compute = False
        net.opt.num_threads = args.threads
        base = args.models_dir / "realesrgan-ncnn" / model
        if net.load_param(str(base.with_suffix(".param"))) != 0:
            raise SystemExit(f"cannot load {base}.param")
        if net.load_model(str(base.with_suffix(".bin"))) != 0:
            raise SystemExit(f"cannot load {base}.bin")
        for path in args.image:
            rgb = np.ascontiguousarray(np.asarray(Image.open(path).convert("RGB")))
            h, w, _ = rgb.shape

            def run():
                mat = ncnn.Mat.from_pixels(rgb, ncnn.Mat.PixelType.PIXEL_RGB, w, h)
                mat.substract_mean_normalize([], [1 / 255.0] * 3)
                ex = net.create_extractor()
                ex.input("data", mat)
                ret, out = ex.extract("output")
                if ret != 0:
                    raise SystemExit(f"ncnn extract failed: {ret}")
                chw = np.array(out)
                return (np.clip(chw, 0.0, 1.0) * 255.0).round().astype(np.uint8).transpose(1, 2, 0)

            for _ in range(args.warmup):
                run()
            samples = []
            out = None
            for _ in range(max(args.runs, 1)):
                started = time.perf_counter()
                out = run()
                samples.append((time.perf_counter() - started) * 1000.0)
            target = args.out_dir / f"{model}__{path.stem}.png"
            Image.fromarray(np.ascontiguousarray(out)).save(target)
            results.append(
                {
                    "model": model,
                    "image": str(path),
                    "width": w,
                    "height": h,
                    "median_ms": statistics.median(samples),
                    "samples_ms": samples,
                    "output": str(target),
                }
            )
    json.dump(
        {
            "ncnn_version": getattr(ncnn, "__version__", "unknown"),
            "threads": args.threads,
            "results": results,
            "peak_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        },
        sys.stdout,
    )


if __name__ == "__main__":
    main()
