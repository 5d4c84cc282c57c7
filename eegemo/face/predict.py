"""Facial expressions of the faces in photos, folders of photos and videos.

:class:`FacePredictor` wraps a trained face model: it finds faces
(:class:`~eegemo.face.detect.FaceDetector`), crops them like FER2013, and returns
for each face its ``box`` ``[x, y, w, h]``, ``label`` and per-class
``probabilities``. :func:`predict_path` runs it over an image, a folder of images
(recursively) or a video (every N-th frame, or a given number of frames per
second). A photo without a face is a normal result with an empty face list; an
unreadable file is recorded with its error and the rest is still done. The faces of a
video are followed across frames and their expression smoothed over time
(:mod:`eegemo.face.track`). Annotated copies (a video's with a timeline plot) are
written by :mod:`eegemo.face.annotate`.

Memory does not grow with a photo's pixel count: photos are decoded at reduced size
(:func:`~eegemo.face.detect.read_image`), the detector sees at most ``detect_size``
pixels on the longer side, faces are cropped from the reduced photo, and boxes are
reported in the pixels of the original file.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..atomic import atomic_open
from ..errors import EegemoError
from .annotate import (
    FALLBACK_FPS,
    annotate,
    annotated_outputs,
    annotated_path,
    plot_timeline,
    save_annotated_video,
    save_image,
)
from .data import IMAGE_SUFFIXES
from .detect import (
    DEFAULT_DETECT_SIZE,
    DEFAULT_MARGIN,
    FaceBox,
    FaceDetector,
    crop_face,
    opencv,
    read_image,
    to_gray,
)
from .track import TrackOptions, track_video

#: File name endings read as videos.
VIDEO_SUFFIXES = frozenset(
    {".avi", ".mp4", ".mov", ".mkv", ".webm", ".mpg", ".mpeg", ".wmv", ".m4v"}
)


class FacePredictor:
    """A trained facial-expression model with face detection and cropping.

    Parameters
    ----------
    model : torch.nn.Module
        Trained model mapping ``(N, in_chans, img_size, img_size)`` images in [0, 1]
        to logits.
    classes : sequence of str
        Class names in output order.
    img_size : int
        Model input side.
    in_chans : int
        Model input channels (the grayscale crop is repeated if more than one).
    device : str or torch.device
        Where the model runs.
    detector : FaceDetector, optional
        Default: the Haar cascade with its default settings.
    whole_image : bool
        Treat each image as one face (already-cropped faces) instead of detecting.
    margin : float
        Growth of each detected box before cropping (see :func:`crop_face`).
    tta : bool
        Average over flips and crops (:mod:`eegemo.face.tta`).
    detect_size : int
        Longer side, in pixels, of the image the detector sees: larger images and video
        frames are reduced to it (faces are still cropped from the larger image), so
        faces smaller than about ``min_size`` times the image's longer side over
        ``detect_size`` are missed. Larger photo files are decoded at between once and
        twice this size (see :func:`~eegemo.face.detect.read_image`).
    """

    def __init__(
        self,
        model,
        classes: Sequence[str],
        img_size: int = 48,
        in_chans: int = 1,
        device: Any = "cpu",
        detector: FaceDetector | None = None,
        whole_image: bool = False,
        margin: float = DEFAULT_MARGIN,
        tta: bool = False,
        detect_size: int = DEFAULT_DETECT_SIZE,
    ) -> None:
        import torch

        if detect_size < 1:
            raise EegemoError(f"--detect-size must be at least 1, got {detect_size}")
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        self.classes = [str(c) for c in classes]
        self.img_size = int(img_size)
        self.in_chans = int(in_chans)
        self.detector = None if whole_image else (detector or FaceDetector())
        self.margin = margin
        self.tta = tta
        self.detect_size = int(detect_size)

    @classmethod
    def from_run(cls, run_or_checkpoint: str | Path, device: Any = "cpu", **kwargs: Any):
        """Load a face model trained by ``eegemo train`` (a run folder or ``.pt`` file).

        Parameters
        ----------
        run_or_checkpoint : path-like
            Run folder (best checkpoint) or checkpoint file.
        device : str or torch.device
            Where the model runs.
        **kwargs
            Passed to :class:`FacePredictor` (``detector``, ``whole_image``, ``margin``,
            ``tta``, ``detect_size``).
        """
        from ..train.checkpoint import input_shape_of, load_model

        model, meta = load_model(run_or_checkpoint, device=device)
        modality = meta.get("data", {}).get("modality")
        if modality != "face":
            raise EegemoError(
                f"{meta.get('path', run_or_checkpoint)}: this model was trained on "
                f"{modality or 'unknown'} data, not faces"
            )
        in_chans, side, _ = input_shape_of(meta["model"])
        return cls(model, meta["classes"], side, in_chans, device, **kwargs)

    @classmethod
    def default(cls, device: Any = "cpu", **kwargs: Any):
        """Load the facial-expression model shipped with eegemo (see :mod:`eegemo.face.shipped`).

        Parameters
        ----------
        device : str or torch.device
            Where the model runs.
        **kwargs
            Passed to :class:`FacePredictor`.
        """
        from .shipped import default_model_path

        return cls.from_run(default_model_path(), device=device, **kwargs)

    def predict_crops(self, crops: np.ndarray) -> np.ndarray:
        """Class probabilities of face crops.

        Parameters
        ----------
        crops : ndarray of uint8, shape (K, img_size, img_size)

        Returns
        -------
        probabilities : ndarray, shape (K, n_classes)
        """
        import torch

        if len(crops) == 0:
            return np.zeros((0, len(self.classes)), np.float32)
        x = torch.from_numpy(np.ascontiguousarray(crops)).to(self.device).float().div_(255.0)
        x = x.unsqueeze(1).expand(-1, self.in_chans, -1, -1)
        with torch.inference_mode():
            if self.tta:
                from .tta import predict_tta

                probs = predict_tta(self.model, x).exp()
            else:
                out = self.model(x)
                probs = out.float().softmax(dim=1)
        return probs.cpu().numpy()

    def predict_image(
        self, image: np.ndarray, original_size: tuple[int, int] | None = None
    ) -> list[dict]:
        """Faces in one image with their expression.

        Parameters
        ----------
        image : ndarray
            OpenCV image (gray, BGR or BGRA).
        original_size : tuple of int, optional
            ``(width, height)`` of the image ``image`` was reduced from (as returned by
            :func:`~eegemo.face.detect.read_image`): boxes are reported in its pixels.
            Default: ``image``'s own size.

        Returns
        -------
        faces : list of dict
            ``box`` ``[x, y, w, h]``, ``label``, ``probabilities`` (class -> float),
            largest face first; empty when no face is found.
        """
        gray = to_gray(image)
        h, w = gray.shape
        width, height = original_size or (w, h)
        if self.detector is None:
            small, found, margin = gray, [FaceBox(0, 0, w, h)], 0.0
        else:
            small = _fit(gray, self.detect_size)
            found, margin = self.detector.detect(small), self.margin
        sh, sw = small.shape
        crops = [crop_face(gray, b.scaled(w / sw, h / sh), self.img_size, margin) for b in found]
        boxes = [b.scaled(width / sw, height / sh) for b in found]
        probs = self.predict_crops(np.stack(crops) if crops else np.zeros((0, 1, 1), np.uint8))
        return [
            {
                "box": box.as_list(),
                "label": self.classes[int(p.argmax())],
                "probabilities": {
                    c: round(float(v), 6) for c, v in zip(self.classes, p, strict=True)
                },
            }
            for box, p in zip(boxes, probs, strict=True)
        ]


def _fit(gray: np.ndarray, side: int) -> np.ndarray:
    """``gray`` reduced (area averaging) so that its longer side is at most ``side``."""
    cv2 = opencv()

    h, w = gray.shape
    if max(h, w) <= side:
        return gray
    scale = side / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return cv2.resize(gray, size, interpolation=cv2.INTER_AREA)


# ------------------------------------------------------------------- inputs


def input_kind(path: Path) -> str:
    """``"image"``, ``"video"`` or ``"folder"`` for a prediction input; error otherwise."""
    if path.is_dir():
        return "folder"
    if not path.exists():
        raise EegemoError(f"{path}: no such file or folder")
    suffix = path.suffix.lower()
    if suffix in IMAGE_SUFFIXES:
        return "image"
    if suffix in VIDEO_SUFFIXES:
        return "video"
    raise EegemoError(
        f"{path}: unknown file type {suffix or '(none)'}; expected an image "
        f"({', '.join(sorted(IMAGE_SUFFIXES))}) or a video ({', '.join(sorted(VIDEO_SUFFIXES))})"
    )


def iter_video_frames(
    path: str | Path, every: int = 1, fps: float | None = None
) -> Iterator[tuple[int, float, np.ndarray]]:
    """Frames of a video: ``(frame_index, time_seconds, image)``.

    Parameters
    ----------
    path : path-like
        Any video OpenCV can decode.
    every : int
        Keep every ``every``-th frame (ignored when ``fps`` is given).
    fps : float, optional
        Keep about this many frames per second of video.
    """
    cv2 = opencv()

    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise EegemoError(f"{path}: OpenCV cannot open this video")
    try:
        video_fps = cap.get(cv2.CAP_PROP_FPS) or 0.0
        every = frame_step(video_fps, every, fps)
        index = 0
        while True:
            if index % every == 0:
                ok, frame = cap.read()
                if not ok:
                    break
                t = index / video_fps if video_fps > 0 else cap.get(cv2.CAP_PROP_POS_MSEC) / 1000
                yield index, round(float(t), 4), frame
            elif not cap.grab():
                break
            index += 1
    finally:
        cap.release()


def frame_step(video_fps: float, every: int = 1, fps: float | None = None) -> int:
    """Keep every how-many-th frame of a video (see :func:`iter_video_frames`).

    Parameters
    ----------
    video_fps : float
        The video's frame rate (0 when unknown: ``fps`` then keeps every frame).
    every, fps
        As for :func:`iter_video_frames`.
    """
    if every < 1:
        raise EegemoError(f"--every must be at least 1, got {every}")
    if fps is not None and fps <= 0:
        raise EegemoError(f"--fps must be positive, got {fps}")
    if fps is not None:
        return max(1, round(video_fps / fps)) if video_fps > 0 else 1
    return every


def video_info(path: str | Path) -> tuple[float, int]:
    """Frame rate and frame count OpenCV reports for a video (0 when unknown)."""
    cv2 = opencv()

    cap = cv2.VideoCapture(str(path))
    try:
        return float(cap.get(cv2.CAP_PROP_FPS) or 0.0), int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
    finally:
        cap.release()


# ------------------------------------------------------------------- running


def _predict_image_file(
    predictor: FacePredictor, path: Path, rel: Path, annotate_dir: Path | None
) -> dict:
    record: dict[str, Any] = {"source": str(path), "kind": "image"}
    try:
        image, size = read_image(path, predictor.detect_size, gray=annotate_dir is None)
        record["faces"] = predictor.predict_image(image, size)
        if annotate_dir is not None:
            annotated = annotate(image, record["faces"], size)
            save_image(annotated_path(annotate_dir, rel), annotated)
    except EegemoError as exc:
        record.pop("faces", None)
        record["error"] = str(exc)
    return record


def _predict_video(
    predictor: FacePredictor,
    path: Path,
    rel: Path,
    every: int,
    fps: float | None,
    tracking: TrackOptions | None,
    annotate_dir: Path | None,
    progress: bool,
) -> dict:
    from tqdm import tqdm

    video_fps, n_frames = video_info(path)
    record: dict[str, Any] = {"source": str(path), "kind": "video", "fps": video_fps, "frames": []}
    bar = tqdm(total=n_frames or None, desc=path.name, unit=" frame",
               disable=None if progress else True)
    last = -1
    try:
        for index, t, frame in iter_video_frames(path, every, fps):
            faces = predictor.predict_image(frame)
            record["frames"].append({"frame": index, "time": t, "faces": faces})
            bar.update(index - last)
            last = index
    except EegemoError as exc:
        record["error"] = str(exc)
    finally:
        bar.close()
    if not record["frames"]:
        record.setdefault("error", f"{path}: no frame could be decoded")
        return record
    record["tracks"] = track_video(record["frames"], predictor.classes, tracking)
    if annotate_dir is not None:
        short = {t["track"] for t in record["tracks"] if t["short"]}
        video, timeline = annotated_outputs(annotate_dir, rel)
        try:
            rate = video_fps / frame_step(video_fps, every, fps) if video_fps > 0 else FALLBACK_FPS
            save_annotated_video(path, iter_video_frames(path, every, fps), record["frames"],
                                 video, rate, short)
            plot_timeline(record["frames"], record["tracks"], predictor.classes, timeline,
                          title=path.name)
        except EegemoError as exc:
            record["error"] = str(exc)
    return record


def predict_path(
    path: str | Path,
    predictor: FacePredictor,
    every: int = 1,
    fps: float | None = None,
    annotate_dir: str | Path | None = None,
    progress: bool = True,
    tracking: TrackOptions | None = None,
) -> list[dict]:
    """Predict the expressions of the faces in an image, a folder or a video.

    Parameters
    ----------
    path : path-like
        An image, a video, or a folder searched recursively for images and videos.
    predictor : FacePredictor
        The model with its face detector.
    every, fps
        Video frame sampling (see :func:`iter_video_frames`).
    annotate_dir : path-like, optional
        Save a copy of every image with boxes and labels under this folder, keeping the
        input's relative names; for a video, a video of its sampled frames with boxes,
        track ids and smoothed labels (``<name>.annotated.mp4``, or ``.avi`` where
        OpenCV cannot write MPEG-4) and a timeline plot (``<name>.timeline.png``).
        Nothing written may replace an input file.
    progress : bool
        Progress bars.
    tracking : TrackOptions, optional
        How the faces of a video are tracked and smoothed; default
        :class:`~eegemo.face.track.TrackOptions`.

    Returns
    -------
    records : list of dict
        One per input file: ``source``, ``kind`` and ``faces`` (image) or ``fps``,
        ``frames`` (video; each ``frame``, ``time`` in seconds and ``faces``, whose
        faces carry ``track`` and smoothed ``probabilities`` and ``label``, their own in
        ``raw_probabilities`` and ``raw_label``) and ``tracks``
        (see :func:`~eegemo.face.track.track_video`), or ``error`` when the file could
        not be read.
    """
    from tqdm import tqdm

    path = Path(path)
    kind = input_kind(path)
    out_dir = Path(annotate_dir) if annotate_dir is not None else None
    if kind == "folder":
        files = sorted(
            p for p in path.rglob("*")
            if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES | VIDEO_SUFFIXES
        )
        base = path
    else:
        files, base = [path], path.parent
    if out_dir is not None:
        out_resolved = out_dir.resolve()
        inputs = {f.resolve(): f for f in files}
        for f in files:
            for target in annotated_outputs(out_resolved, f.relative_to(base)):
                if target in inputs:
                    raise EegemoError(
                        f"{out_dir}: annotated copies would overwrite the input "
                        f"{inputs[target]}; choose another --save-annotated folder"
                    )
    records = []
    images = [f for f in files if f.suffix.lower() in IMAGE_SUFFIXES]
    bar = tqdm(total=len(images), desc="images", unit=" img",
               disable=None if progress and len(images) > 1 else True)
    for f in files:
        if f.suffix.lower() in VIDEO_SUFFIXES:
            records.append(_predict_video(predictor, f, f.relative_to(base), every, fps,
                                          tracking, out_dir, progress))
        else:
            records.append(_predict_image_file(predictor, f, f.relative_to(base), out_dir))
            bar.update(1)
    bar.close()
    return records


def prediction_rows(records: list[dict], classes: Sequence[str]) -> Iterator[dict]:
    """Flatten :func:`predict_path` records into table rows, one per face.

    Images or frames without a face get one row with an empty ``face``; unreadable
    files one row with their ``error``. For videos, ``label`` and ``p_<class>`` are the
    smoothed values and ``raw_label`` the frame's own; ``track`` and ``raw_label`` are
    empty for images.
    """
    for rec in records:
        frames = rec.get("frames") or [{"frame": "", "time": "", "faces": rec.get("faces", [])}]
        for fr in frames:
            base = {"source": rec["source"], "frame": fr["frame"], "time": fr["time"],
                    "error": rec.get("error", "")}
            if not fr["faces"]:
                yield {**base, "face": ""}
            for i, face in enumerate(fr["faces"]):
                x, y, w, h = face["box"]
                row = {**base, "face": i, "x": x, "y": y, "w": w, "h": h, "label": face["label"],
                       "track": face.get("track", ""), "raw_label": face.get("raw_label", "")}
                row.update({f"p_{c}": face["probabilities"][c] for c in classes})
                yield row


def write_predictions_csv(
    path: str | os.PathLike, records: list[dict], classes: Sequence[str]
) -> None:
    """Write :func:`prediction_rows` as a CSV table, atomically."""
    fields = ["source", "frame", "time", "face", "x", "y", "w", "h", "label", "track",
              "raw_label"]
    fields += [f"p_{c}" for c in classes] + ["error"]
    with atomic_open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields, restval="")
        writer.writeheader()
        for row in prediction_rows(records, classes):
            writer.writerow(row)
