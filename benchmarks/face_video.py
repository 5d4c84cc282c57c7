"""Labels over time in videos of one face: raw per-frame labels against track smoothing.

Writes synthetic one-person clips: a FER2013 validation face (one the Haar cascade
finds, of a known expression) upscaled to 150 pixels, drifting 3 pixels a frame over a
blurred random texture with camera-like noise (sd 12 grey levels), 30 frames at 10 fps.
Each clip goes through ``eegemo predict``'s own path (:func:`eegemo.face.predict.
predict_path`) with the face model shipped with eegemo (or ``--model RUN``), tracking
and ``--smooth`` as the command line sets them. Per clip and in total it counts frames
with exactly one face, label changes of the main track between consecutive frames
(raw ``raw_label`` against smoothed ``label``), and frames whose label is the clip's
expression. One JSON object on stdout::

    python benchmarks/face_video.py --clips-per-class 4 --smooth 5
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("EEGEMO_SHARED_DATA", ROOT.parent / "shared" / "data"))
FRAMES, FPS, SIDE = 30, 10.0, 150


def write_clip(path: Path, face: np.ndarray, rng: np.random.Generator) -> None:
    """A face drifting over a textured background, with sensor noise, as an MJPG AVI."""
    import cv2

    texture = rng.integers(60, 200, (240, 320), dtype=np.uint8)
    background = cv2.GaussianBlur(texture, (0, 0), 3).astype(np.float32)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), FPS, (320, 240))
    for i in range(FRAMES):
        frame = background.copy()
        x, y = 20 + 3 * i, 30 + i
        frame[y : y + SIDE, x : x + SIDE] = face
        frame += rng.normal(0.0, 12.0, frame.shape)
        gray = np.clip(frame, 0, 255).astype(np.uint8)
        writer.write(cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR))
    writer.release()


def clip_faces(fer_dir: Path, classes: list[str], per_class: int) -> list[tuple[str, np.ndarray]]:
    """Upscaled validation faces the Haar cascade finds, ``per_class`` of each class."""
    import cv2

    from eegemo.face.detect import FaceDetector, read_image

    detector, rng = FaceDetector(backend="haar"), np.random.default_rng(0)
    chosen = []
    for name in classes:
        files = sorted((fer_dir / "val" / name).iterdir())
        found = 0
        for k in rng.permutation(len(files)):
            face = cv2.resize(read_image(files[k], gray=True)[0], (SIDE, SIDE),
                              interpolation=cv2.INTER_CUBIC)
            canvas = np.full((240, 320), 128, np.uint8)
            canvas[40 : 40 + SIDE, 40 : 40 + SIDE] = face
            if len(detector.detect(canvas)) == 1:
                chosen.append((name, face))
                found += 1
            if found == per_class:
                break
    return chosen


def flips(labels: list[str]) -> int:
    return sum(a != b for a, b in itertools.pairwise(labels))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="run folder or .pt (default: the shipped model)")
    parser.add_argument("--clips-per-class", type=int, default=4)
    parser.add_argument("--classes", default="happy,surprise,neutral,angry,sad")
    parser.add_argument("--smooth", type=int, default=5)
    parser.add_argument("--detector", default="haar", choices=("auto", "haar", "mtcnn"))
    args = parser.parse_args()
    if not (SHARED / "fer2013" / "val").is_dir():
        sys.exit(f"FER2013 not found under {SHARED} (set EEGEMO_SHARED_DATA)")

    from eegemo.face.detect import FaceDetector
    from eegemo.face.predict import FacePredictor, predict_path
    from eegemo.face.track import TrackOptions

    detector = FaceDetector(backend=args.detector)
    predictor = (FacePredictor.from_run(args.model, detector=detector) if args.model
                 else FacePredictor.default(detector=detector))
    classes = args.classes.split(",")
    faces = clip_faces(SHARED / "fer2013", classes, args.clips_per_class)
    rng = np.random.default_rng(1)
    clips, started = [], time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for k, (truth, face) in enumerate(faces):
            path = Path(tmp) / f"clip{k:02d}_{truth}.avi"
            write_clip(path, face, rng)
            record = predict_path(path, predictor, progress=False,
                                  tracking=TrackOptions(smooth=args.smooth))[0]
            frames = record["frames"]
            main_track = max(record["tracks"], key=lambda t: t["frames"])["track"]
            main = [f for fr in frames for f in fr["faces"] if f["track"] == main_track]
            raw, smoothed = [f["raw_label"] for f in main], [f["label"] for f in main]
            clips.append({
                "truth": truth,
                "frames": len(frames),
                "frames_with_one_face": sum(len(fr["faces"]) == 1 for fr in frames),
                "main_track_frames": len(main),
                "flips_raw": flips(raw), "flips_smoothed": flips(smoothed),
                "right_raw": raw.count(truth), "right_smoothed": smoothed.count(truth),
            })  # fmt: skip
    total = {key: sum(c[key] for c in clips) for key in clips[0] if key != "truth"}
    print(json.dumps({
        "model": args.model or "shipped default",
        "detector": args.detector, "smooth": args.smooth, "clips": len(clips),
        "seconds": round(time.perf_counter() - started, 1),
        "total": total,
        "share_one_face": round(total["frames_with_one_face"] / total["frames"], 4),
        "share_right_raw": round(total["right_raw"] / total["main_track_frames"], 4),
        "share_right_smoothed": round(total["right_smoothed"] / total["main_track_frames"], 4),
        "per_clip": clips,
    }, indent=1))  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
