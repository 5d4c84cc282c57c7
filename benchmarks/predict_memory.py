"""Peak memory and wall time of ``eegemo predict`` on large photos, against full resolution.

Makes synthetic photos in a temporary folder (a uniform gray canvas with a real
FER2013 face, enlarged to a quarter of the side, pasted in): JPEGs of 2000², 4000²
and 8000² pixels and an 8000² PNG. On each it runs, every time in a fresh process:

* ``eegemo predict PHOTO --model RUN --json``: the photo decoded at reduced size and
  the detector given at most 2048 pixels on the longer side;
* the obvious alternative, this script with ``--full-resolution``: the whole photo
  decoded with ``cv2.imdecode`` and the same Haar cascade run on all of its pixels,
  then the same crops and model;
* ``eegemo predict`` on a 64x64 photo, the fixed cost of the process (Python, PyTorch,
  OpenCV, the model).

The model is a tiny one trained for one epoch on 8 images per class of
``$EEGEMO_SHARED_DATA/fer2013`` (what it predicts does not matter here). Peak memory is
the child's maximum resident set size (``os.wait4``). Prints one JSON object: per photo
the file size, both peaks in MB, both wall times, both boxes and their overlap
(intersection over union).

Usage::

    python benchmarks/predict_memory.py
    python benchmarks/predict_memory.py --sizes 2000 4000     # a quick look
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def default_data() -> Path:
    """``$EEGEMO_SHARED_DATA/fer2013`` or ``../shared/data/fer2013`` beside the project."""
    shared = Path(os.environ.get("EEGEMO_SHARED_DATA", ROOT.parent / "shared" / "data"))
    return shared / "fer2013"


def measure(cmd: list[str]) -> tuple[dict, str]:
    """Run ``cmd``; its peak resident memory in MB, wall seconds, and its stdout."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout = out.read()
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(cmd)} failed:\n{stdout}{err.read()}")
    # ru_maxrss is in kilobytes on Linux
    return {"peak_rss_mb": round(usage.ru_maxrss / 1024, 1), "wall_s": round(seconds, 2)}, stdout


def train_tiny_model(data: Path, tmp: Path) -> Path:
    """A face model trained for one epoch on 8 images per class (symlinked)."""
    subset = tmp / "fer"
    for split in ("train", "val"):
        for folder in sorted(p for p in (data / split).iterdir() if p.is_dir()):
            (subset / split / folder.name).mkdir(parents=True)
            for f in sorted(folder.iterdir())[:8]:
                (subset / split / folder.name / f.name).symlink_to(f.resolve())
    run = tmp / "run"
    subprocess.run(
        [sys.executable, "-m", "eegemo", "train", "--data", str(subset), "--out", str(run),
         "--no-progress", "--set", "model=vgg", "--set", "model_kwargs={width=4,fc_dim=16}",
         "--set", "epochs=1", "--set", "threads=1"],
        cwd=ROOT, check=True, capture_output=True,
        env={**os.environ, "EEGEMO_CACHE_DIR": str(tmp / "cache")},
    )
    return run


def findable_face(data: Path) -> np.ndarray:
    """The first FER2013 ``val/happy`` face that the Haar cascade finds, enlarged 4x."""
    import cv2

    from eegemo.face.detect import FaceDetector, read_image

    detector = FaceDetector()
    for path in sorted((data / "val" / "happy").iterdir())[:20]:
        face = cv2.resize(read_image(path, gray=True)[0], (192, 192),
                          interpolation=cv2.INTER_CUBIC)
        canvas = np.full((360, 480), 128, np.uint8)
        canvas[80:272, 150:342] = face
        if detector.detect(canvas):
            return face
    raise SystemExit(f"the Haar cascade found none of 20 faces in {data}/val/happy")


def write_photo(path: Path, side: int, face: np.ndarray) -> None:
    """A ``side`` x ``side`` colour photo with ``face`` a quarter of the side, off centre."""
    import cv2

    image = np.full((side, side, 3), 128, np.uint8)
    big = cv2.resize(face, (side // 4, side // 4), interpolation=cv2.INTER_CUBIC)
    image[side // 3 : side // 3 + side // 4, side // 3 : side // 3 + side // 4] = big[..., None]
    cv2.imwrite(str(path), image, [cv2.IMWRITE_JPEG_QUALITY, 90])


def iou(a: list[int] | None, b: list[int] | None) -> float | None:
    """Intersection over union of two ``[x, y, w, h]`` boxes."""
    if a is None or b is None:
        return None
    w = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    h = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    inter = max(0, w) * max(0, h)
    return round(inter / (a[2] * a[3] + b[2] * b[3] - inter), 3)


def full_resolution(photo: Path, model: Path) -> None:
    """The alternative: decode every pixel and run the detector on all of them."""
    import cv2

    from eegemo.face.detect import FaceDetector, crop_face, to_gray
    from eegemo.face.predict import FacePredictor

    predictor = FacePredictor.from_run(model)
    image = cv2.imdecode(np.fromfile(photo, np.uint8), cv2.IMREAD_UNCHANGED)
    gray = to_gray(image)
    boxes = FaceDetector().detect(gray)
    crops = [crop_face(gray, b, predictor.img_size) for b in boxes]
    probs = predictor.predict_crops(np.stack(crops) if crops else np.zeros((0, 1, 1), np.uint8))
    labels = [predictor.classes[int(p.argmax())] for p in probs]
    print(json.dumps({"faces": [{"box": b.as_list(), "label": lab}
                                for b, lab in zip(boxes, labels, strict=True)]}))


def first_box(stdout: str) -> list[int] | None:
    """The largest face's box in either command's JSON; None without a face."""
    result = json.loads(stdout)
    faces = result["results"][0]["faces"] if "results" in result else result["faces"]
    return faces[0]["box"] if faces else None


def main() -> None:
    """Make the photos, run both ways on each, and print the JSON result."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=default_data(), help="FER2013 folder")
    parser.add_argument("--sizes", type=int, nargs="+", default=[2000, 4000, 8000],
                        help="sides of the square JPEG photos (an 8000² PNG is added "
                        "when 8000 is among them)")
    parser.add_argument("--full-resolution", nargs=2, type=Path, metavar=("PHOTO", "RUN"),
                        help="(the alternative, run in a subprocess) predict PHOTO with RUN "
                        "on its full-resolution pixels")
    args = parser.parse_args()
    if args.full_resolution:
        full_resolution(*args.full_resolution)
        return

    import cv2
    import PIL
    import torch

    from eegemo import __version__

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model = train_tiny_model(args.data, tmp)
        face = findable_face(args.data)
        photos = []
        for side in args.sizes:
            photos.append((f"{side}x{side} JPEG", tmp / f"photo_{side}.jpg"))
            write_photo(photos[-1][1], side, face)
        if 8000 in args.sizes:
            photos.append(("8000x8000 PNG", tmp / "photo_8000.png"))
            cv2.imwrite(str(photos[-1][1]), cv2.imread(str(tmp / "photo_8000.jpg")))
        tiny = tmp / "tiny.jpg"
        cv2.imwrite(str(tiny), np.full((64, 64, 3), 128, np.uint8))

        predict = [sys.executable, "-m", "eegemo", "predict", "--json", "--model", str(model)]
        fixed, _ = measure([*predict, str(tiny)])
        rows = []
        for name, photo in photos:
            ours, out_ours = measure([*predict, str(photo)])
            alt, out_alt = measure(
                [sys.executable, __file__, "--full-resolution", str(photo), str(model)]
            )
            ours["box"], alt["box"] = first_box(out_ours), first_box(out_alt)
            rows.append({
                "photo": name,
                "file_mb": round(photo.stat().st_size / 1e6, 2),
                "eegemo_predict": ours,
                "full_resolution": alt,
                "peak_ratio": round(alt["peak_rss_mb"] / ours["peak_rss_mb"], 2),
                "box_iou": iou(ours["box"], alt["box"]),
            })
    result = {
        "benchmark": "predict_memory",
        "commands": {
            "eegemo_predict": "eegemo predict PHOTO --model RUN --json",
            "full_resolution": "python benchmarks/predict_memory.py --full-resolution PHOTO RUN",
        },
        "fixed_cost_64x64_photo": fixed,
        "photos": rows,
        "versions": {
            "eegemo": __version__,
            "opencv": cv2.__version__,
            "pillow": PIL.__version__,
            "torch": torch.__version__,
            "python": platform.python_version(),
        },
        "machine": {
            "cpus": os.cpu_count(),
            "load_average_1min_at_end": round(os.getloadavg()[0], 1),
            "platform": platform.platform(),
        },
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
