"""Face detectors compared on labelled synthetic scenes: Haar cascade, MediaPipe, MTCNN.

Builds a deterministic test set of scenes (640x480 and 1920x1080 by default) with
textured backgrounds (multi-octave value noise, gradients, random shapes and lines;
never a uniform canvas) and 0-4 FER2013 validation faces pasted at known boxes,
48-300 px wide, some rotated by up to 12 degrees, some brighter or darker. Each
available detector runs on every scene; detections are matched to the ground truth
greedily by IoU (at least ``--iou``, 0.3 by default) and the script prints one JSON
object with precision, recall, F1 and ms per image for each detector and scene size.

Why IoU 0.3 and not the usual 0.5: FER2013 crops are tight (brows to chin, little
forehead, no ears), while every detector frames a face its own way (Haar's box is
larger and lower, MTCNN's taller, MediaPipe's smaller), so a correct detection of
a pasted face often has an IoU of 0.4-0.6 with the crop's box. Faces never overlap
in these scenes, so 0.3 still cannot match a detection to the wrong face; the median
IoU of the matches is reported to show how far each detector's framing is from FER's.

Detectors (each skipped when it cannot be imported):

* ``haar``: :class:`eegemo.face.detect.FaceDetector` with eegemo's defaults, on the
  grayscale scene, exactly as ``eegemo predict`` calls it;
* ``mediapipe_short`` / ``mediapipe_full``: ``mediapipe.solutions.face_detection``
  (mediapipe 0.10.x; model_selection 0 = short range, 1 = full range), confidence 0.5;
* ``mtcnn``: ``facenet_pytorch.MTCNN`` (its default thresholds, min face 20 px),
  faces kept with probability at least 0.9.

MTCNN is eegemo's optional ``mtcnn`` extra; MediaPipe is not a dependency (it would
bring a second OpenCV), so install it into a folder of its own::

    pip install -e ".[mtcnn]"
    pip install --no-deps --target mp-packages mediapipe==0.10.14 "protobuf>=4.25.3,<5" \
        absl-py flatbuffers
    PYTHONPATH=mp-packages python benchmarks/face_detectors.py

Photos under ``$EEGEMO_SHARED_DATA`` (default ``../shared/data``; FER2013's 48x48
crops are excluded) are also run through each detector, counting detections only.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("EEGEMO_SHARED_DATA", ROOT.parent / "shared" / "data"))
PHOTO_EXT = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}


# ---------------------------------------------------------------- test set


def load_faces(fer_dir: Path, n: int, rng: np.random.Generator) -> list[np.ndarray]:
    """``n`` FER2013 validation faces (48x48 uint8), drawn without replacement."""
    from PIL import Image

    files = sorted((fer_dir / "val").glob("*/*.jpg"))
    if not files:
        sys.exit(f"no FER2013 faces under {fer_dir}/val")
    pick = rng.choice(len(files), size=min(n, len(files)), replace=False)
    return [np.asarray(Image.open(files[i]).convert("L")) for i in pick]


def background(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """A textured BGR background: value noise over 4 octaves, a gradient, shapes, lines."""
    import cv2

    img = np.zeros((h, w), np.float32)
    for octave in range(4):
        cells = 4 * 2**octave
        grid = rng.random((cells * h // w + 2, cells + 2)).astype(np.float32)
        img += cv2.resize(grid, (w, h), interpolation=cv2.INTER_CUBIC) / 2**octave
    img = (img - img.min()) / max(float(np.ptp(img)), 1e-6)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    angle = rng.uniform(0, 2 * np.pi)
    grad = (np.cos(angle) * xx / w + np.sin(angle) * yy / h)
    img = 255 * (0.55 * img + 0.45 * (grad - grad.min()) / max(float(np.ptp(grad)), 1e-6))
    img = cv2.cvtColor(np.clip(img, 0, 255).astype(np.uint8), cv2.COLOR_GRAY2BGR)
    tint = rng.uniform(0.7, 1.3, 3)
    img = np.clip(img * tint, 0, 255).astype(np.uint8)
    s = min(h, w)
    for _ in range(rng.integers(5, 15)):  # clutter: filled shapes and lines
        color = tuple(int(c) for c in rng.integers(0, 256, 3))
        kind = rng.integers(3)
        x, y = int(rng.integers(0, w)), int(rng.integers(0, h))
        r = int(rng.integers(s // 30, s // 5))
        if kind == 0:
            cv2.rectangle(img, (x, y), (x + r, y + int(r * rng.uniform(0.3, 2))), color, -1)
        elif kind == 1:
            axes = (r, int(r * rng.uniform(0.3, 1)))
            cv2.ellipse(img, (x, y), axes, float(rng.uniform(0, 180)), 0, 360, color, -1)
        else:
            x2, y2 = int(rng.integers(0, w)), int(rng.integers(0, h))
            cv2.line(img, (x, y), (x2, y2), color, int(rng.integers(1, 6)))
    noise = rng.normal(0, 6, img.shape)
    return np.clip(img + noise, 0, 255).astype(np.uint8)


def paste(scene: np.ndarray, face: np.ndarray, box, angle: float, gain: float, bias: float):
    """Paste a grayscale face resized to ``box`` (x, y, side), rotated by ``angle`` degrees."""
    import cv2

    x, y, s = box
    f = cv2.resize(face, (s, s), interpolation=cv2.INTER_CUBIC if s > 48 else cv2.INTER_AREA)
    f = np.clip(f.astype(np.float32) * gain + bias, 0, 255)
    mask = np.ones((s, s), np.float32)
    if angle:
        m = cv2.getRotationMatrix2D((s / 2, s / 2), angle, 1.0)
        f = cv2.warpAffine(f, m, (s, s), flags=cv2.INTER_LINEAR)
        mask = cv2.warpAffine(mask, m, (s, s), flags=cv2.INTER_LINEAR)
    region = scene[y : y + s, x : x + s].astype(np.float32)
    out = region * (1 - mask[..., None]) + f[..., None] * mask[..., None]
    scene[y : y + s, x : x + s] = np.clip(out, 0, 255).astype(np.uint8)


def make_scene(size, faces, rng):
    """One scene of ``size`` (w, h) with 0-4 faces; returns (BGR image, boxes, meta)."""
    w, h = size
    img = background(h, w, rng)
    boxes: list[tuple[int, int, int, int]] = []
    meta = []
    for _ in range(int(rng.integers(0, 5))):
        for _attempt in range(30):  # place without overlap (a margin of 10% around)
            s = int(np.exp(rng.uniform(np.log(48), np.log(min(300, h - 2)))))
            x, y = int(rng.integers(0, w - s)), int(rng.integers(0, h - s))
            pad = s // 10
            if all(x + s + pad <= bx or bx + bs + pad <= x or y + s + pad <= by
                   or by + bs + pad <= y for bx, by, bs, _ in boxes):
                break
        else:
            continue
        angle = float(rng.uniform(-12, 12)) if rng.random() < 0.3 else 0.0
        gain, bias = (float(rng.uniform(0.6, 1.4)), float(rng.uniform(-30, 30))) \
            if rng.random() < 0.3 else (1.0, 0.0)
        paste(img, faces[int(rng.integers(len(faces)))], (x, y, s), angle, gain, bias)
        boxes.append((x, y, s, s))
        meta.append({"side": s, "rotated": bool(angle), "relit": gain != 1.0})
    return img, boxes, meta


# ---------------------------------------------------------------- detectors


def make_detectors(names: list[str]):
    """name -> callable(BGR image) -> list of (x, y, w, h); plus versions and import errors."""
    dets, info = {}, {}
    if "haar" in names:
        import cv2

        from eegemo.face.detect import FaceDetector, to_gray

        haar = FaceDetector()
        dets["haar"] = lambda img: [b.as_list() for b in haar.detect(to_gray(img))]
        info["haar"] = f"opencv {cv2.__version__} (eegemo FaceDetector defaults)"
    for key, sel in (("mediapipe_short", 0), ("mediapipe_full", 1)):
        if key not in names:
            continue
        try:
            import mediapipe as mp

            fd = mp.solutions.face_detection.FaceDetection(
                model_selection=sel, min_detection_confidence=0.5)
        except Exception as exc:  # any import or initialisation failure skips it
            info[key] = f"unavailable: {type(exc).__name__}: {exc}"
            continue

        def run_mp(img, fd=fd):
            import cv2

            h, w = img.shape[:2]
            res = fd.process(cv2.cvtColor(img, cv2.COLOR_BGR2RGB))
            out = []
            for d in res.detections or []:
                bb = d.location_data.relative_bounding_box
                out.append([round(bb.xmin * w), round(bb.ymin * h),
                            round(bb.width * w), round(bb.height * h)])
            return out

        dets[key] = run_mp
        info[key] = f"mediapipe {mp.__version__}"
    if "mtcnn" in names:
        try:
            import facenet_pytorch
            import torch
            from facenet_pytorch import MTCNN

            mtcnn = MTCNN(keep_all=True, device="cpu")
        except Exception as exc:  # skipped, with the reason in the JSON
            info["mtcnn"] = f"unavailable: {type(exc).__name__}: {exc}"
        else:
            def run_mtcnn(img):
                import cv2

                with torch.inference_mode():
                    b, p = mtcnn.detect(cv2.cvtColor(img, cv2.COLOR_BGR2RGB))
                if b is None:
                    return []
                return [[round(x0), round(y0), round(x1 - x0), round(y1 - y0)]
                        for (x0, y0, x1, y1), q in zip(b, p, strict=True) if q >= 0.9]

            dets["mtcnn"] = run_mtcnn
            version = getattr(facenet_pytorch, "__version__", None)
            if version is None:
                from importlib.metadata import version as _v

                version = _v("facenet-pytorch")
            info["mtcnn"] = f"facenet-pytorch {version}, torch {torch.__version__}"
    return dets, info


# ---------------------------------------------------------------- scoring


def iou(a, b) -> float:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    iw = max(0, min(ax + aw, bx + bw) - max(ax, bx))
    ih = max(0, min(ay + ah, by + bh) - max(ay, by))
    inter = iw * ih
    union = aw * ah + bw * bh - inter
    return inter / union if union > 0 else 0.0


def match(dets, gts, thr):
    """Greedy one-to-one matching by IoU: ([(ground-truth index, IoU)], false positives)."""
    pairs = sorted(((iou(d, g), i, j) for i, d in enumerate(dets) for j, g in enumerate(gts)),
                   reverse=True)
    used_d, used_g, matched = set(), set(), []
    for v, i, j in pairs:
        if v < thr:
            break
        if i in used_d or j in used_g:
            continue
        used_d.add(i)
        used_g.add(j)
        matched.append((j, v))
    return matched, len(dets) - len(used_d)


def summarise(tp, fp, fn):
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * p * r / (p + r) if p + r else 0.0
    return {"tp": tp, "fp": fp, "fn": fn, "precision": round(p, 3), "recall": round(r, 3),
            "f1": round(f1, 3)}


def photos() -> list[Path]:
    if not SHARED.is_dir():
        return []
    return sorted(p for p in SHARED.rglob("*") if p.suffix.lower() in PHOTO_EXT
                  and "fer2013" not in p.parts)


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scenes", type=int, default=60, help="scenes per size (default 60)")
    ap.add_argument("--sizes", default="640x480,1920x1080")
    ap.add_argument("--iou", type=float, default=0.3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1,
                    help="OpenCV and torch threads (MediaPipe's own are not settable)")
    ap.add_argument("--detectors", default="haar,mediapipe_short,mediapipe_full,mtcnn")
    ap.add_argument("--fer", type=Path, default=SHARED / "fer2013")
    ap.add_argument("--save-scenes", type=Path, help="write the scenes as PNG here")
    args = ap.parse_args(argv)

    import cv2

    cv2.setNumThreads(args.threads)
    try:
        import torch

        torch.set_num_threads(args.threads)
    except ImportError:
        pass
    rng = np.random.default_rng(args.seed)
    faces = load_faces(args.fer, 400, rng)
    sizes = [tuple(int(v) for v in s.split("x")) for s in args.sizes.split(",")]
    scenes = {s: [make_scene(s, faces, rng) for _ in range(args.scenes)] for s in sizes}
    if args.save_scenes:
        args.save_scenes.mkdir(parents=True, exist_ok=True)
        for s, items in scenes.items():
            for k, (img, _b, _m) in enumerate(items[:5]):
                cv2.imwrite(str(args.save_scenes / f"{s[0]}x{s[1]}_{k}.png"), img)
    dets, info = make_detectors(args.detectors.split(","))
    result = {
        "command": "python benchmarks/face_detectors.py " + " ".join(argv or sys.argv[1:]),
        "iou_threshold": args.iou, "seed": args.seed, "threads": args.threads,
        "faces_per_size": {f"{w}x{h}": sum(len(b) for _i, b, _m in scenes[(w, h)])
                           for w, h in sizes},
        "scenes_per_size": args.scenes, "detectors": info, "results": {},
    }
    buckets = ((48, 80), (80, 150), (150, 301))
    for name, fn in dets.items():
        fn(scenes[sizes[0]][0][0])  # warm up (lazy initialisation, XNNPACK, torch)
        res = {}
        for w, h in sizes:
            tp = fp = fn_ = 0
            ms, ious = [], []
            hit = {"rotated": [0, 0], "relit": [0, 0], **{f"{a}-{b - 1}px": [0, 0]
                                                         for a, b in buckets}}
            for img, gts, meta in scenes[(w, h)]:
                t0 = time.perf_counter()
                found = fn(img)
                ms.append(1000 * (time.perf_counter() - t0))
                matched, nfp = match(found, gts, args.iou)
                tp += len(matched)
                fp += nfp
                fn_ += len(gts) - len(matched)
                ious += [v for _j, v in matched]
                got = {j for j, _v in matched}
                for j, m in enumerate(meta):
                    keys = [f"{a}-{b - 1}px" for a, b in buckets if a <= m["side"] < b]
                    keys += [k for k in ("rotated", "relit") if m[k]]
                    for k in keys:
                        hit[k][0] += j in got
                        hit[k][1] += 1
            row = summarise(tp, fp, fn_)
            row["ms_median"] = round(statistics.median(ms), 1)
            row["ms_mean"] = round(statistics.fmean(ms), 1)
            row["median_iou"] = round(statistics.median(ious), 3) if ious else None
            row["recall_by"] = {k: f"{a}/{b}" for k, (a, b) in hit.items()}
            res[f"{w}x{h}"] = row
        result["results"][name] = res
    shots = photos()
    result["photos"] = {"count": len(shots), "root": str(SHARED)}
    if shots:
        from eegemo.face.detect import read_image

        for name, fn in dets.items():
            result["photos"][name] = {
                str(p.relative_to(SHARED)): len(fn(read_image(p, 2048)[0])) for p in shots}
    print(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
