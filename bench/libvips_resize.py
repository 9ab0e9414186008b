#!/usr/bin/env python3
"""libvips doing imgforge's resize job, for `cargo bench --bench resize_vs_libvips`.

Fits a JPEG within a box with Lanczos3 and encodes it as JPEG, timing the stages the way
the Rust bench does, and prints one JSON document on stdout.

libvips is lazy: an operation only builds a pipeline, and pixels are computed when something
consumes them. So each stage ends by forcing its result into memory (`copy_memory`) or into
an encoded buffer, and the operation cache is turned off so a repeated run cannot be served
from the previous one.

Modes:
  decode           new_from_buffer(sequential) + copy_memory: a full decode to memory
  decode_shrink    the same with jpegload's shrink=N: decoded at 1/N in the inverse DCT
  resize           resize(scale, kernel="lanczos3") of the decoded image + copy_memory
  resize_shrink    the same from the shrink=N decode
  encode           jpegsave_buffer(Q) of the resized image
  pipeline         new_from_buffer -> resize -> jpegsave_buffer as one streaming pipeline
  pipeline_shrink  the same with shrink=N on load
  thumbnail        thumbnail_buffer(box) -> jpegsave_buffer(Q): the idiomatic call, which
                   picks its own shrink-on-load (none unless the shrink is 4x or more)

Each mode runs with libvips' default thread count and with one thread.

Needs `pip install pyvips pyvips-binary`. Exits with status 3 when pyvips cannot be loaded,
so the caller can skip with a reason instead of failing.
"""

import argparse
import json
import statistics
import sys
import time

try:
    import pyvips
except (ImportError, OSError) as err:  # OSError: pyvips found but libvips not
    print(f"pyvips is not available: {err}", file=sys.stderr)
    sys.exit(3)


def sample_ms(job, runs, warmup):
    """Wall times of `runs` calls of `job()` in milliseconds, after `warmup` untimed calls."""
    for _ in range(warmup):
        job()
    samples = []
    for _ in range(max(runs, 1)):
        started = time.perf_counter()
        job()
        samples.append((time.perf_counter() - started) * 1000.0)
    return samples


def fit(width, height, box):
    """imgforge's ResizeParams::target_size for "at most box x box"."""
    scale = min(box / width, box / height, 1.0)
    return max(1, round(width * scale)), max(1, round(height * scale))


def measure(data, box, quality, shrink, runs, warmup):
    def load(shrink_on_load):
        options = {"shrink": shrink_on_load} if shrink_on_load > 1 else {}
        return pyvips.Image.new_from_buffer(data, "", access="sequential", **options)

    def scales(image):
        # libvips' own rounding of `width * scale` can land one pixel off imgforge's target,
        # so each axis gets the scale that hits it exactly.
        return target_w / image.width, target_h / image.height

    def resize(image):
        hscale, vscale = scales(image)
        return image.resize(hscale, vscale=vscale, kernel="lanczos3")

    decoded = load(1).copy_memory()
    decoded_shrunk = load(shrink).copy_memory()
    target_w, target_h = fit(decoded.width, decoded.height, box)
    resized = resize(decoded).copy_memory()
    encoded = resized.jpegsave_buffer(Q=quality)
    thumb = pyvips.Image.thumbnail_buffer(data, box, height=box)
    thumb_encoded = thumb.jpegsave_buffer(Q=quality)

    stages = {
        "decode": lambda: load(1).copy_memory(),
        "decode_shrink": lambda: load(shrink).copy_memory(),
        "resize": lambda: resize(decoded).copy_memory(),
        "resize_shrink": lambda: resize(decoded_shrunk).copy_memory(),
        "encode": lambda: resized.jpegsave_buffer(Q=quality),
        "pipeline": lambda: resize(load(1)).jpegsave_buffer(Q=quality),
        "pipeline_shrink": lambda: resize(load(shrink)).jpegsave_buffer(Q=quality),
        "thumbnail": lambda: pyvips.Image.thumbnail_buffer(data, box, height=box).jpegsave_buffer(
            Q=quality
        ),
    }
    default_threads = pyvips.concurrency_get()
    timings = {}
    for label, threads in (("default", default_threads), ("single", 1)):
        pyvips.concurrency_set(threads)
        samples = {name: sample_ms(job, runs, warmup) for name, job in stages.items()}
        timings[label] = {
            "threads": threads,
            "ms": {name: statistics.median(values) for name, values in samples.items()},
            "samples": samples,
        }
    pyvips.concurrency_set(default_threads)

    return {
        "libvips": ".".join(str(pyvips.version(i)) for i in range(3)),
        "source": [decoded.width, decoded.height],
        "shrink": shrink,
        "reduced": [decoded_shrunk.width, decoded_shrunk.height],
        "output": {
            "resize": [resized.width, resized.height, len(encoded)],
            "thumbnail": [thumb.width, thumb.height, len(thumb_encoded)],
        },
        "runs": runs,
        "warmup": warmup,
        "timings": timings,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("image", help="a JPEG file")
    parser.add_argument("--box", type=int, default=1024, help="fit within box x box")
    parser.add_argument("--quality", type=int, default=90)
    parser.add_argument(
        "--shrink", type=int, default=2, choices=(1, 2, 4, 8), help="jpegload shrink-on-load"
    )
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--warmup", type=int, default=2)
    args = parser.parse_args()

    # A cached operation would make every run after the first free.
    pyvips.cache_set_max(0)
    with open(args.image, "rb") as file:
        data = file.read()
    result = measure(data, args.box, args.quality, args.shrink, args.runs, args.warmup)
    json.dump(result, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
