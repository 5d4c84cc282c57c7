"""``eegemo predict``: facial expressions of the faces in photos, folders and videos."""

from __future__ import annotations

import argparse

from .options import add_device_option

DESCRIPTION = """\
Find the faces in PATH (an image, a folder searched recursively for images and
videos, or a video file) with OpenCV's Haar cascade, crop them like FER2013 faces
and classify their expression with a model trained by `eegemo train`.

For each face: its box [x, y, w, h] in pixels, its label and the probability of
every class. A photo without a face is a normal result (no faces). A file that
cannot be read is reported and the others are still done (exit status 1).

Videos: every frame by default; --every N keeps every N-th frame, --fps F about F
frames per second; each frame's result carries its index and time in seconds.

Large photos and frames: the detector sees at most --detect-size pixels on the longer
side (default 2048); photos are decoded at reduced size (JPEGs directly at 1/2, 1/4
or 1/8), so a JPEG's memory does not grow with its pixel count. Boxes are always in
the original file's pixels; --save-annotated copies of large photos are written at
the reduced size (longer side below twice --detect-size). Refused as possible
decompression bombs: images over 179 megapixels, and images that would take more
than 89 megapixels to decode (PNG, TIFF and the other non-JPEG formats are decoded
at full size before being reduced).
"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register the ``predict`` subcommand."""
    p = sub.add_parser(
        "predict",
        help="classify the facial expressions in photos, folders of photos, or videos",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("path", metavar="PATH", help="image, folder of images/videos, or video file")
    p.add_argument("--model", required=True, metavar="RUN",
                   help="run folder of a face model (its best checkpoint) or a .pt file")
    p.add_argument("--json", action="store_true",
                   help="print one JSON object: model, classes and one result per file")
    p.add_argument("--csv", metavar="FILE", help="also write a table with one row per face")
    p.add_argument("--save-annotated", metavar="DIR",
                   help="save copies of the images (and sampled video frames) with boxes and "
                   "labels under DIR, keeping the input's relative names")
    p.add_argument("--every", type=int, default=1, metavar="N",
                   help="video: keep every N-th frame (default 1)")
    p.add_argument("--fps", type=float, metavar="F",
                   help="video: keep about F frames per second (overrides --every)")
    p.add_argument("--whole-image", action="store_true",
                   help="no detection: each image is one already-cropped face")
    p.add_argument("--min-face", type=int, default=24, metavar="PX",
                   help="smallest face side in pixels to detect (default 24)")
    p.add_argument("--min-neighbors", type=int, default=5, metavar="K",
                   help="Haar cascade: overlapping detections needed per face; higher finds "
                   "fewer false faces (default 5)")
    p.add_argument("--detect-size", type=int, metavar="PX",
                   help="longer side of the image the detector sees; larger photos and "
                   "frames are reduced to it (default 2048); in a photo N times larger, "
                   "faces under N x --min-face pixels are missed")
    p.add_argument("--tta", action="store_true",
                   help="average over flipped and cropped views of each face")
    add_device_option(p, from_config=False)
    p.set_defaults(func=run)


def _summary_line(record: dict) -> str:
    if "error" in record and not record.get("frames"):
        return f"{record['source']}: error: {record['error']}"
    if record["kind"] == "video":
        frames = record["frames"]
        n_faces = sum(len(f["faces"]) for f in frames)
        labels: dict[str, int] = {}
        for f in frames:
            for face in f["faces"]:
                labels[face["label"]] = labels.get(face["label"], 0) + 1
        common = ", ".join(f"{k} {v}" for k, v in sorted(labels.items(), key=lambda kv: -kv[1]))
        return (f"{record['source']}: {len(frames)} frames, {n_faces} faces"
                + (f" ({common})" if common else ""))
    faces = record["faces"]
    if not faces:
        return f"{record['source']}: no faces"
    parts = [f"{f['label']} {f['probabilities'][f['label']]:.2f} at {f['box']}" for f in faces]
    return f"{record['source']}: " + "; ".join(parts)


def run(args: argparse.Namespace) -> int:
    """Predict and print or write the results."""
    import json

    from ..face.detect import DEFAULT_DETECT_SIZE, FaceDetector
    from ..face.predict import FacePredictor, predict_path, write_predictions_csv
    from ..train.device import resolve_device

    device = resolve_device(args.device)
    detector = None if args.whole_image else FaceDetector(
        min_neighbors=args.min_neighbors, min_size=args.min_face
    )
    predictor = FacePredictor.from_run(
        args.model, device=device, detector=detector, whole_image=args.whole_image, tta=args.tta,
        detect_size=DEFAULT_DETECT_SIZE if args.detect_size is None else args.detect_size,
    )
    records = predict_path(
        args.path, predictor, every=args.every, fps=args.fps,
        annotate_dir=args.save_annotated, progress=not args.json,
    )
    if args.csv:
        write_predictions_csv(args.csv, records, predictor.classes)
    if args.json:
        print(json.dumps({"model": args.model, "classes": predictor.classes, "results": records}))
    else:
        for record in records:
            print(_summary_line(record))
    return 1 if any("error" in r for r in records) else 0
