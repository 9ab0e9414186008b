#!/usr/bin/env python3
"""rembg doing imgforge's remove-background job, for `cargo bench --bench remove_bg_vs_rembg`.

Runs rembg's own pipeline (`rembg.remove(bytes, session=...)`: Pillow decode, u2netp through
ONNX Runtime, Lanczos resize of the mask, naive cut-out, PNG encode) on the photos given, with
one u2netp session reused for every call, and prints one JSON document on stdout.

rembg runs offline: U2NET_HOME (set here from --models-dir before rembg is imported) points at
the folder holding u2netp.onnx, which rembg finds by its md5 instead of downloading it.

Modes:
  serial      one image at a time: `remove(bytes)` end to end ("default"), the same with
              `alpha_matting=True` ("matting"), and the stages of the default path timed
              separately (decode, predict, cutout, encode)
  concurrent  `remove(bytes)` from N threads sharing the one session (what rembg's own HTTP
              server does with its thread pool), for each N in --concurrency: wall time,
              throughput and the latency of every call

Peak RSS is `resource.getrusage(RUSAGE_SELF).ru_maxrss` (KiB on Linux): in serial mode taken
after the default cut-outs and before matting, so it is comparable with imgforge's.

Needs `pip install rembg onnxruntime`. Exits with status 3 when rembg cannot be imported, so
the caller can skip with a reason instead of failing.
"""

import argparse
import io
import json
import os
import resource
import statistics
import sys
import threading
import time
from pathlib import Path


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


def peak_rss_kib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def serial(session, photos, args):
    from PIL import Image, ImageOps
    from rembg import remove
    from rembg.bg import naive_cutout

    data = {photo.name: photo.read_bytes() for photo in photos}
    results = {name: {"samples": {}} for name in data}
    for name, raw in data.items():
        out = remove(raw, session=session)
        results[name]["output_bytes"] = len(out)
        results[name]["samples"]["default"] = sample_ms(
            lambda raw=raw: remove(raw, session=session), args.runs, args.warmup
        )
    peak_default = peak_rss_kib()

    for name, raw in data.items():
        results[name]["samples"]["matting"] = sample_ms(
            lambda raw=raw: remove(raw, session=session, alpha_matting=True),
            args.matting_runs,
            1,
        )

    for name, raw in data.items():
        # remove(bytes) as rembg runs it, one stage at a time.
        def decode(raw=raw):
            img = ImageOps.exif_transpose(Image.open(io.BytesIO(raw)))
            img.load()
            return img

        img = decode()
        mask = session.predict(img)[0]
        cut = naive_cutout(img, mask)

        def encode():
            buffer = io.BytesIO()
            cut.save(buffer, "PNG")
            return buffer

        stages = {
            "decode": decode,
            "predict": lambda img=img: session.predict(img),
            "cutout": lambda img=img, mask=mask: naive_cutout(img, mask),
            "encode": encode,
        }
        for stage, job in stages.items():
            results[name]["samples"][stage] = sample_ms(job, args.runs, args.warmup)
        results[name]["size"] = list(img.size)

    return {"photos": results, "peak_rss_kib": peak_default, "peak_rss_kib_matting": peak_rss_kib()}


def concurrent(session, photos, args):
    from rembg import remove

    data = [photo.read_bytes() for photo in photos]
    levels = {}
    for level in args.concurrency:
        # Warm-up: every photo once from as many threads as will run.
        run_level(lambda raw: remove(raw, session=session), data, max(level, len(data)), level)
        levels[str(level)] = run_level(
            lambda raw: remove(raw, session=session), data, args.requests, level
        )
    return {"levels": levels, "peak_rss_kib": peak_rss_kib()}


def run_level(job, data, requests, level):
    """`requests` calls of `job` over the photos in turn, from `level` threads at once."""
    lock = threading.Lock()
    next_index = [0]
    latencies = []

    def worker():
        while True:
            with lock:
                index = next_index[0]
                next_index[0] += 1
            if index >= requests:
                return
            started = time.perf_counter()
            job(data[index % len(data)])
            elapsed = (time.perf_counter() - started) * 1000.0
            with lock:
                latencies.append(elapsed)

    threads = [threading.Thread(target=worker) for _ in range(level)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall_ms = (time.perf_counter() - started) * 1000.0
    return {"requests": requests, "wall_ms": wall_ms, "latencies_ms": latencies}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("mode", choices=("serial", "concurrent"))
    parser.add_argument("photos", nargs="+", type=Path)
    parser.add_argument("--models-dir", type=Path, required=True)
    parser.add_argument("--model", default="u2netp")
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--matting-runs", type=int, default=3)
    parser.add_argument("--requests", type=int, default=24, help="calls per concurrency level")
    parser.add_argument(
        "--concurrency",
        type=lambda text: [int(n) for n in text.split(",")],
        default=[1, 4],
        help="comma-separated thread counts",
    )
    args = parser.parse_args()

    # Before rembg is imported: sessions read it when they look for their file.
    os.environ["U2NET_HOME"] = str(args.models_dir.resolve())
    started = time.perf_counter()
    try:
        import onnxruntime
        import rembg
        from rembg import new_session
    except (ImportError, OSError, SystemExit) as err:  # rembg exits when onnxruntime is missing
        print(f"rembg is not available: {err!r}", file=sys.stderr)
        sys.exit(3)
    import_ms = (time.perf_counter() - started) * 1000.0

    started = time.perf_counter()
    session = new_session(args.model)
    session_ms = (time.perf_counter() - started) * 1000.0
    facts = {
        "rembg": getattr(rembg, "__version__", "?"),
        "onnxruntime": onnxruntime.__version__,
        "python": sys.version.split()[0],
        "import_ms": import_ms,
        "session_ms": session_ms,
        "model_path": str(session.download_models()),
    }
    if args.mode == "serial":
        result = serial(session, args.photos, args)
    else:
        result = concurrent(session, args.photos, args)
    json.dump({"facts": facts, **result}, sys.stdout)
    print()


if __name__ == "__main__":
    main()
