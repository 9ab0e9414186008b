"""Local remove watermark and expand against OpenCV baselines.

Runs the release `imgforge process remove-watermark|expand` (build it first:
`cargo build --release`), then compares with cv2.inpaint (Telea, Navier-Stokes) given the same
mask, and with mirror padding for expand. Needs ../shared/testdata and ../shared/models, and a
venv with opencv-python-headless, numpy and scikit-image (created at $INPAINT_BENCH_VENV or
/work/venvs/restore-inpaint when missing):

    python3 bench/inpaint_compare.py [--gallery docs/gallery]
"""
import os, subprocess, sys, tempfile, time

VENV = os.environ.get("INPAINT_BENCH_VENV", "/work/venvs/restore-inpaint")
if sys.prefix != VENV:
    py = os.path.join(VENV, "bin", "python")
    if not os.path.exists(py):
        subprocess.check_call([sys.executable, "-m", "venv", VENV])
        subprocess.check_call([py, "-m", "pip", "install", "-q", "opencv-python-headless", "numpy", "scikit-image"])
    os.execv(py, [py] + sys.argv)

import cv2
import numpy as np
from skimage.metrics import structural_similarity

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(ROOT, "../shared/testdata")
BIN = os.environ.get("IMGFORGE_BIN", os.path.join(ROOT, "target/release/imgforge"))
ENV = dict(os.environ, IMGFORGE__MODELS__DIR=os.path.join(ROOT, "../shared/models"))


def psnr(a, b, m=None):
    d = (a.astype(float) - b.astype(float)) ** 2
    mse = d[m].mean() if m is not None else d.mean()
    return 10 * np.log10(255 ** 2 / max(mse, 1e-9))


def ssim(a, b, m=None):
    _, full = structural_similarity(a, b, channel_axis=2, full=True, data_range=255)
    full = full.mean(axis=2)
    return full[m].mean() if m is not None else full.mean()


def run(op, src, dst, *extra):
    t = time.perf_counter()
    subprocess.run([BIN, "process", op, src, dst, *extra], env=ENV, check=True, capture_output=True)
    return time.perf_counter() - t


def timed(f, n=3):
    ts = []
    for _ in range(n):
        t = time.perf_counter(); out = f(); ts.append(time.perf_counter() - t)
    return out, sorted(ts)[n // 2]


def main():
    gallery = sys.argv[sys.argv.index("--gallery") + 1] if "--gallery" in sys.argv else None
    tmp = tempfile.mkdtemp()
    clean = cv2.imread(os.path.join(DATA, "coffee.png"))
    marked_path = os.path.join(DATA, "coffee_watermarked.png")
    marked = cv2.imread(marked_path)
    truth = np.abs(clean.astype(int) - marked.astype(int)).max(axis=2) > 0
    out_path = os.path.join(tmp, "ours.png")
    times = [run("remove-watermark", marked_path, out_path) for _ in range(3)]
    ours = cv2.imread(out_path)
    found = np.abs(ours.astype(int) - marked.astype(int)).max(axis=2) > 0
    recall = (found & truth).sum() / truth.sum()
    print(f"watermark: {truth.sum()} px, detected+grown mask {found.sum()} px, recall {recall:.3f}")
    print(f"{'method':<28}{'PSNR all':>10}{'SSIM all':>10}{'PSNR wm':>10}{'SSIM wm':>10}{'time':>10}")
    mask8 = found.astype(np.uint8) * 255
    rows = [("watermarked input", marked, None), ("imgforge (detect + fill)", ours, sorted(times)[1])]
    for name, flag in [("cv2.inpaint Telea", cv2.INPAINT_TELEA), ("cv2.inpaint Navier-Stokes", cv2.INPAINT_NS)]:
        out, t = timed(lambda: cv2.inpaint(marked, mask8, 3, flag))
        rows.append((name + " (same mask)", out, t))
    for name, img, t in rows:
        ts = f"{t * 1000:.0f} ms" if t else "-"
        print(f"{name:<28}{psnr(img, clean):>10.2f}{ssim(img, clean):>10.4f}{psnr(img, clean, truth):>10.2f}{ssim(img, clean, truth):>10.4f}{ts:>10}")
    if gallery:
        os.makedirs(gallery, exist_ok=True)
        telea = cv2.inpaint(marked, mask8, 3, cv2.INPAINT_TELEA)
        half = lambda im: cv2.resize(im, (300, 200), interpolation=cv2.INTER_AREA)
        crop = lambda im: im[300:380, 20:500]
        cv2.imwrite(os.path.join(gallery, "watermark_before_after.jpg"), cv2.vconcat([half(marked), half(ours)]), [cv2.IMWRITE_JPEG_QUALITY, 85])
        cv2.imwrite(os.path.join(gallery, "watermark_crop_ours_vs_telea.jpg"), cv2.vconcat([crop(marked), crop(ours), crop(telea)]), [cv2.IMWRITE_JPEG_QUALITY, 85])

    print()
    print(f"{'expand (centre 2/3 -> full)':<34}{'PSNR border':>12}{'SSIM border':>12}{'time':>10}")
    for name in ["coffee.png", "chelsea.png"]:
        full = cv2.imread(os.path.join(DATA, name))
        h, w = full.shape[:2]
        ch, cw = (h * 2 // 3) // 2 * 2, (w * 2 // 3) // 2 * 2
        y0, x0 = (h - ch) // 2, (w - cw) // 2
        centre = full[y0:y0 + ch, x0:x0 + cw]
        src = os.path.join(tmp, "centre_" + name)
        cv2.imwrite(src, centre)
        sy, sx = 1 + y0 / ch, 1 + x0 / cw
        dst = os.path.join(tmp, "expanded_" + name)
        t = sorted(run("expand", src, dst, "--top", str(sy), "--bottom", str(sy), "--left", str(sx), "--right", str(sx)) for _ in range(3))[1]
        ours = cv2.imread(dst)
        if ours.shape != full.shape:
            ours = cv2.resize(ours, (w, h))
        border = np.ones((h, w), bool); border[y0:y0 + ch, x0:x0 + cw] = False
        mirror = cv2.copyMakeBorder(centre, y0, h - ch - y0, x0, w - cw - x0, cv2.BORDER_REFLECT)
        print(f"{name + ' imgforge':<34}{psnr(ours, full, border):>12.2f}{ssim(ours, full, border):>12.4f}{t * 1000:>8.0f} ms")
        print(f"{name + ' mirror padding':<34}{psnr(mirror, full, border):>12.2f}{ssim(mirror, full, border):>12.4f}{'-':>10}")
        if gallery and name == "coffee.png":
            half = lambda im: cv2.resize(im, (300, 200), interpolation=cv2.INTER_AREA)
            placed = cv2.copyMakeBorder(centre, y0, h - ch - y0, x0, w - cw - x0, cv2.BORDER_CONSTANT, value=(0, 0, 0))
            cv2.imwrite(os.path.join(gallery, "expand_input_ours_truth.jpg"), cv2.hconcat([half(placed), half(ours), half(full)]), [cv2.IMWRITE_JPEG_QUALITY, 85])


main()
