"""``eegemo predict``: facial expressions of the faces in photos, folders and videos."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from .options import add_config_options, add_device_option

if TYPE_CHECKING:
    from ..face.track import TrackOptions

DESCRIPTION = """\
Find the faces in PATH (an image, a folder searched recursively for images and
videos, or a video file) with MTCNN where facenet-pytorch is installed, else OpenCV's
Haar cascade (--detector), crop them like FER2013 faces
and classify their expression with a model trained by `eegemo train`, or without
--model with the model shipped in eegemo (a ResNet-18 trained on FER2013 by
pipelines/fer-cpu.toml; its model card is in docs/faces.md).

For each face: its box [x, y, w, h] in pixels, its label and the probability of
every class. A photo without a face is a normal result (no faces). A file that
cannot be read is reported and the others are still done (exit status 1).

Videos: every frame by default; --every N keeps every N-th frame, --fps F about F
frames per second; each frame's result carries its index and time in seconds. The
faces are followed across the sampled frames: each gets a track id, and its class
probabilities and label are averaged over --smooth frames of its track (the frame's
own stay as raw_probabilities and raw_label). Each track is
summarised (frames, start and end, mean probabilities, most frequent smoothed
label); tracks seen in fewer than --min-track frames are flagged as probable false
detections and left out of the summary line and the timeline. With
--save-annotated, a video becomes an annotated video (boxes, track ids, smoothed
labels) and a timeline plot of each track's probabilities.

Large photos and frames: the detector sees at most --detect-size pixels on the longer
side (default 2048); photos are decoded at reduced size (JPEGs directly at 1/2, 1/4
or 1/8), so a JPEG's memory does not grow with its pixel count. Boxes are always in
the original file's pixels; --save-annotated copies of large photos are written at
the reduced size (longer side below twice --detect-size). Refused as possible
decompression bombs: images over 179 megapixels, and images that would take more
than 89 megapixels to decode (PNG, TIFF and the other non-JPEG formats are decoded
at full size before being reduced).

EEG: with a model trained on EEG topomaps, PATH is a recording (EDF, BDF, GDF,
BrainVision, EEGLAB, FIF, CNT), a folder of recordings, or a folder preprocessed
by `eegemo preprocess` (manifest.csv), and no labels are needed. Recordings are
preprocessed first, with the pipeline recorded in the provenance of the run's
training data (or --config), in a temporary folder or --work DIR. A single file is
its own subject; in a folder, subjects follow --subject-pattern or the pipeline's.
With subject-wise normalisation (the default) each subject's epochs are standardised
with that subject's own statistics, so predictions are relative to the subject's
average: predict a subject's recordings together, with a few minutes of data (a
subject with fewer than 20 epochs is warned about). One line per recording: its epochs and
the class of highest mean probability; --json prints one JSON object (model,
classes, normalisation, preprocessing and a summary per recording: epochs, mean
probabilities, label, share of epochs per label); --csv writes one row per epoch
(source, subject, recording, index, onset_s, predicted, p_<class>). A recording that
cannot be processed is reported in one line and the others are still done (exit
status 1). Heart-feature and fused models are not supported.
"""

#: Options of one kind of model only: (attribute, option as written, kind).
_ONLY = (
    ("save_annotated", "--save-annotated DIR", "face"), ("whole_image", "--whole-image", "face"),
    ("tta", "--tta", "face"), ("config", "--config FILE", "EEG"),
    ("overrides", "--set KEY=VALUE", "EEG"), ("subject_pattern", "--subject-pattern RE", "EEG"),
    ("work", "--work DIR", "EEG"),
)


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register the ``predict`` subcommand."""
    p = sub.add_parser(
        "predict",
        help="classify the facial expressions in photos, folders of photos, or videos, "
        "or the epochs of EEG recordings",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("path", metavar="PATH", help="image, folder of images/videos, or video "
                   "file; EEG: recording, folder of recordings, or preprocessed folder")
    p.add_argument("--model", metavar="RUN",
                   help="run folder of a face or EEG model (its best checkpoint) or a .pt file "
                   "(default: the face model shipped with eegemo)")
    p.add_argument("--json", action="store_true",
                   help="print one JSON object: model, classes and one result per file")
    p.add_argument("--csv", metavar="FILE",
                   help="also write a table with one row per face (EEG: per epoch)")
    p.add_argument("--save-annotated", metavar="DIR",
                   help="save copies of the images with boxes and labels under DIR, keeping "
                   "the input's relative names; a video gives NAME.annotated.mp4 (its sampled "
                   "frames with boxes, track ids and smoothed labels) and NAME.timeline.png")
    p.add_argument("--every", type=int, default=1, metavar="N",
                   help="video: keep every N-th frame (default 1)")
    p.add_argument("--fps", type=float, metavar="F",
                   help="video: keep about F frames per second (overrides --every)")
    p.add_argument("--smooth", type=int, default=5, metavar="N",
                   help="video: average each track's class probabilities over a centred "
                   "window of N sampled frames (default 5; 1: no smoothing)")
    p.add_argument("--min-track", default="3", metavar="N|P%",
                   help="video: tracks seen in fewer than N sampled frames, or P%% of them, "
                   "are flagged as probable false detections (default 3)")
    p.add_argument("--max-missed", type=int, default=5, metavar="N",
                   help="video: a track ends after N sampled frames without its face "
                   "(default 5)")
    p.add_argument("--whole-image", action="store_true",
                   help="no detection: each image is one already-cropped face")
    p.add_argument("--min-face", type=int, default=24, metavar="PX",
                   help="smallest face side in pixels to detect (default 24)")
    p.add_argument("--detector", choices=("auto", "haar", "mtcnn"), default="auto",
                   help="face detector: mtcnn (facenet-pytorch's MTCNN, pip install "
                   "eegemo[mtcnn]; higher recall, see docs/faces.md), haar (OpenCV's "
                   "cascade, always there); auto: mtcnn when installed, else haar")
    p.add_argument("--min-neighbors", type=int, default=5, metavar="K",
                   help="Haar cascade: overlapping detections needed per face; higher finds "
                   "fewer false faces (default 5)")
    p.add_argument("--detect-size", type=int, metavar="PX",
                   help="longer side of the image the detector sees; larger photos and "
                   "frames are reduced to it (default 2048); in a photo N times larger, "
                   "faces under N x --min-face pixels are missed")
    p.add_argument("--tta", action="store_true",
                   help="average over flipped and cropped views of each face")
    add_config_options(p, "EEG: TOML pipeline the recordings are preprocessed with "
                       "(default: the one recorded with the run's training data)",
                       "epochs.length_s=4")
    p.add_argument("--subject-pattern", metavar="RE",
                   help="EEG, a folder: regular expression with a (?P<subject>...) group, "
                   "searched in file names (default: the pipeline's, else one subject per "
                   "file)")
    p.add_argument("--work", metavar="DIR",
                   help="EEG: preprocess the recordings into DIR (outside PATH) and keep "
                   "them, so a later prediction reuses them (default: a temporary folder)")
    p.add_argument("--jobs", "-j", type=int, default=1, metavar="N",
                   help="EEG: recordings preprocessed in parallel (default: 1)")
    p.add_argument("--batch-size", type=int, default=256, metavar="N",
                   help="EEG: epochs per forward pass (default: 256)")
    add_device_option(p, from_config=False)
    p.set_defaults(func=run)


def _model_kind(model: str) -> str:
    """``face``, ``eeg`` or another modality: what the model named by ``--model`` learnt from."""
    import warnings

    from ..train.checkpoint import load_checkpoint

    with warnings.catch_warnings():  # an unverified checkpoint is warned about when loaded
        warnings.simplefilter("ignore")
        return str(load_checkpoint(model).get("data", {}).get("modality"))


def _check_options(args: argparse.Namespace, kind: str) -> None:
    """Refuse an option that only applies to models of another kind."""
    from ..errors import ConfigError

    for attribute, option, only in _ONLY:
        if getattr(args, attribute) and (only == "face") != (kind == "face"):
            raise ConfigError(f"{option} applies to {only} models; {args.model} is not one")


def _track_options(args: argparse.Namespace) -> TrackOptions:
    """Video tracking options from ``--smooth``, ``--min-track`` and ``--max-missed``."""
    from ..errors import EegemoError
    from ..face.track import TrackOptions

    text = args.min_track.strip()
    try:
        share = float(text[:-1]) / 100 if text.endswith("%") else 0.0
        frames = 1 if text.endswith("%") else int(text)
    except ValueError:
        raise EegemoError(
            f"--min-track must be a number of frames (3) or a percentage (10%), got {text!r}"
        ) from None
    return TrackOptions(smooth=args.smooth, max_missed=args.max_missed, min_frames=frames,
                        min_share=share)


def _plural(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _summary_line(record: dict) -> str:
    if "error" in record and not record.get("frames"):
        return f"{record['source']}: error: {record['error']}"
    if record["kind"] == "video":
        frames = record["frames"]
        n_faces = sum(len(f["faces"]) for f in frames)
        kept = [t for t in record["tracks"] if not t["short"]]
        n_short = len(record["tracks"]) - len(kept)
        line = (f"{record['source']}: {len(frames)} frames, {n_faces} faces, "
                f"{_plural(len(kept), 'track')}")
        parts = [f"#{t['track']} {t['label']} ({t['label_share']:.0%} of "
                 f"{_plural(t['frames'], 'frame')}, {t['start']:.2f}-{t['end']:.2f} s)"
                 for t in kept]
        if parts:
            line += ": " + "; ".join(parts)
        if n_short:
            line += f" [{_plural(n_short, 'short track')} left out]"
        if "error" in record:
            line += f" error: {record['error']}"
        return line
    faces = record["faces"]
    if not faces:
        return f"{record['source']}: no faces"
    parts = [f"{f['label']} {f['probabilities'][f['label']]:.2f} at {f['box']}" for f in faces]
    return f"{record['source']}: " + "; ".join(parts)


def _eeg_line(record: dict) -> str:
    if "error" in record:
        return f"{record['source']}: error: {record['error']}"
    label = record["label"]
    return (f"{record['source']}: {_plural(record['epochs'], 'epoch')} of subject "
            f"{record['subject']}: {label} (mean probability {record['probabilities'][label]:.2f}; "
            f"{record['label_shares'][label]:.0%} of epochs)")


def _run_eeg(args: argparse.Namespace) -> int:
    """Predict every epoch of EEG recordings; print one line or JSON, write the CSV."""
    import json
    import sys

    from ..eeg.predict import predict_recordings
    from ..errors import ConfigError
    from ..train.predictions import check_output

    if args.batch_size < 1:
        raise ConfigError(f"--batch-size must be at least 1, got {args.batch_size}")
    if args.csv:
        check_output(args.csv, args.path, "--csv")
    result = predict_recordings(
        args.model, args.path, config=args.config, overrides=args.overrides,
        subject_pattern=args.subject_pattern, work=args.work, jobs=args.jobs,
        device=args.device, batch_size=args.batch_size, progress=not args.json,
    )
    for note in result.notes:
        print(f"note: {note}", file=sys.stderr)
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if args.csv:
        result.write_csv(args.csv)
    if args.json:
        print(json.dumps(result.to_json()))
    else:
        for record in result.recordings:
            print(_eeg_line(record))
    return 1 if result.failed else 0


def run(args: argparse.Namespace) -> int:
    """Predict and print or write the results."""
    import json

    from ..face.shipped import DEFAULT_MODEL_NAME, default_model_path

    model_name = args.model
    if args.model is None:
        args.model, model_name = str(default_model_path()), DEFAULT_MODEL_NAME
    kind = _model_kind(args.model)
    _check_options(args, kind)
    if kind != "face":
        return _run_eeg(args)
    from ..face.detect import DEFAULT_DETECT_SIZE, FaceDetector
    from ..face.predict import FacePredictor, predict_path, write_predictions_csv
    from ..train.device import resolve_device

    tracking = _track_options(args)
    device = resolve_device(args.device)
    detector = None if args.whole_image else FaceDetector(
        min_neighbors=args.min_neighbors, min_size=args.min_face, backend=args.detector
    )
    predictor = FacePredictor.from_run(
        args.model, device=device, detector=detector, whole_image=args.whole_image, tta=args.tta,
        detect_size=DEFAULT_DETECT_SIZE if args.detect_size is None else args.detect_size,
    )
    records = predict_path(
        args.path, predictor, every=args.every, fps=args.fps,
        annotate_dir=args.save_annotated, progress=not args.json, tracking=tracking,
    )
    if args.csv:
        write_predictions_csv(args.csv, records, predictor.classes)
    if args.json:
        print(json.dumps({"model": model_name, "classes": predictor.classes, "results": records}))
    else:
        for record in records:
            print(_summary_line(record))
    return 1 if any("error" in r for r in records) else 0
