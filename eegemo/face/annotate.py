"""Drawing predictions onto images and videos, and the timeline figure.

:func:`annotate` draws each face's box and label on an image (a photo or a video
frame); :func:`save_image` and :func:`save_annotated_video` write the annotated copies
and :func:`plot_timeline` a video's class probabilities over time, all atomically.
:func:`annotated_outputs` names the files ``--save-annotated`` writes for an input.
The predictions come from :mod:`eegemo.face.predict`, which calls these writers.
"""

from __future__ import annotations

import functools
from collections.abc import Collection, Iterable, Sequence
from pathlib import Path

import numpy as np

from ..atomic import atomic_open, atomic_path
from ..errors import EegemoError
from .data import IMAGE_SUFFIXES
from .detect import FaceBox, opencv, to_gray

#: Formats annotated images are written in (others are saved as PNG).
ANNOTATED_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"})
#: Codecs tried, in order, for annotated videos: (FourCC, file name ending).
VIDEO_CODECS = (("mp4v", ".annotated.mp4"), ("MJPG", ".annotated.avi"))
#: File name ending of a video's timeline plot.
TIMELINE_SUFFIX = ".timeline.png"
#: Frame rate of annotated videos whose source does not report one.
FALLBACK_FPS = 25.0


def annotate(
    image: np.ndarray,
    faces: list[dict],
    original_size: tuple[int, int] | None = None,
    short_tracks: Collection[int] = (),
) -> np.ndarray:
    """A BGR copy of ``image`` with each face's box and label drawn on it.

    Parameters
    ----------
    image : ndarray
        OpenCV image (gray, BGR or BGRA).
    faces : list of dict
        As returned by :meth:`~eegemo.face.predict.FacePredictor.predict_image`.
        Tracked faces (with ``track``, see :func:`~eegemo.face.track.track_video`) are
        labelled with their track id and smoothed label.
    original_size : tuple of int, optional
        ``(width, height)`` of the image the boxes refer to, when ``image`` is a reduced
        copy of it: the boxes are scaled onto ``image``.
    short_tracks : collection of int
        Ids of tracks flagged as probable false detections: drawn thin and grey with
        their id only.
    """
    cv2 = opencv()

    out = image.copy()
    if out.dtype != np.uint8 or out.ndim == 2 or out.shape[2] != 3:
        out = cv2.cvtColor(to_gray(out), cv2.COLOR_GRAY2BGR)
    width, height = original_size or (out.shape[1], out.shape[0])
    sx, sy = out.shape[1] / width, out.shape[0] / height
    thick = max(1, round(max(out.shape[:2]) / 400))
    for face in faces:
        x, y, w, h = FaceBox(*face["box"]).scaled(sx, sy).as_list()
        if face.get("track") in short_tracks:
            cv2.rectangle(out, (x, y), (x + w, y + h), (160, 160, 160), 1)
            cv2.putText(out, f"#{face['track']}", (x + 2, y + h - 4), cv2.FONT_HERSHEY_SIMPLEX,
                        0.4, (160, 160, 160), 1, cv2.LINE_AA)
            continue
        text = f"{face['label']} {face['probabilities'][face['label']]:.2f}"
        if "track" in face:
            text = f"#{face['track']} {text}"
        cv2.rectangle(out, (x, y), (x + w, y + h), (0, 255, 0), thick)
        scale = max(0.4, w / 200)
        (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thick)
        top = max(0, y - th - base - 2)
        cv2.rectangle(out, (x, top), (x + tw + 2, top + th + base + 2), (0, 255, 0), -1)
        cv2.putText(out, text, (x + 1, top + th + 1), cv2.FONT_HERSHEY_SIMPLEX, scale,
                    (0, 0, 0), thick, cv2.LINE_AA)
    return out


def save_image(path: Path, image: np.ndarray) -> None:
    """Encode ``image`` by the file's extension and write it atomically."""
    cv2 = opencv()

    ok, buf = cv2.imencode(path.suffix if path.suffix else ".png", image)
    if not ok:
        raise EegemoError(f"{path}: OpenCV cannot encode this image format")
    with atomic_open(path, "wb") as fh:
        fh.write(buf.tobytes())


def annotated_path(out_dir: Path, rel: Path) -> Path:
    """Where the annotated copy of the image ``rel`` goes under ``out_dir``.

    Parameters
    ----------
    out_dir : Path
        The ``--save-annotated`` folder.
    rel : Path
        The image, relative to the input folder.

    Returns
    -------
    target : Path
        ``rel`` under ``out_dir``, as PNG unless its format is in
        :data:`ANNOTATED_SUFFIXES`.
    """
    suffix = rel.suffix.lower()
    ext = suffix if suffix in ANNOTATED_SUFFIXES else ".png"
    return out_dir / rel.with_suffix(ext)


def annotated_outputs(out_dir: Path, rel: Path) -> list[Path]:
    """Every file ``--save-annotated`` writes for the input ``rel``.

    Parameters
    ----------
    out_dir : Path
        The ``--save-annotated`` folder.
    rel : Path
        The image or video, relative to the input folder.

    Returns
    -------
    targets : list of Path
        An image's annotated copy (:func:`annotated_path`), or a video's annotated
        copy and timeline plot, in that order.
    """
    if rel.suffix.lower() in IMAGE_SUFFIXES:
        return [annotated_path(out_dir, rel)]
    return [out_dir / rel.with_suffix(video_codec()[1]), out_dir / rel.with_suffix(TIMELINE_SUFFIX)]


@functools.cache
def video_codec() -> tuple[str, str]:
    """The first of :data:`VIDEO_CODECS` this OpenCV can write: ``(fourcc, file ending)``."""
    import tempfile

    cv2 = opencv()

    with tempfile.TemporaryDirectory() as tmp:
        for fourcc, suffix in VIDEO_CODECS:
            writer = cv2.VideoWriter(str(Path(tmp) / f"probe{suffix}"),
                                     cv2.VideoWriter_fourcc(*fourcc), FALLBACK_FPS, (64, 64))
            opened = writer.isOpened()
            writer.release()
            if opened:
                return fourcc, suffix
    tried = " and ".join(fourcc for fourcc, _ in VIDEO_CODECS)
    raise EegemoError(f"this OpenCV cannot write videos (tried {tried}); cannot --save-annotated")


def save_annotated_video(
    source: Path,
    video_frames: Iterable[tuple[int, float, np.ndarray]],
    frames: list[dict],
    target: Path,
    rate: float,
    short_tracks: Collection[int] = (),
) -> int:
    """Write the sampled frames of a video with their faces drawn (:func:`annotate`).

    The annotated copy is written atomically with :func:`video_codec` and read back to
    check its frame count.

    Parameters
    ----------
    source : Path
        The video (named in errors).
    video_frames : iterable of (int, float, ndarray)
        Its sampled frames, decoded again with the sampling used for ``frames``:
        ``(frame_index, time_seconds, image)`` as
        :func:`~eegemo.face.predict.iter_video_frames` yields them.
    frames : list of dict
        The same frames as :func:`~eegemo.face.predict.predict_path` reports them
        (``frame``, ``faces``).
    target : Path
        Destination, ending as :func:`video_codec` says.
    rate : float
        Frame rate of the annotated copy: the source's divided by the sampling step, so
        that it lasts as long (:data:`FALLBACK_FPS` where the source reports none).
    short_tracks : collection of int
        Ids of tracks flagged as probable false detections.

    Returns
    -------
    n : int
        Frames written.
    """
    cv2 = opencv()

    faces = {fr["frame"]: fr["faces"] for fr in frames}
    n = 0
    with atomic_path(target) as tmp:
        writer = None
        try:
            for index, _, frame in video_frames:
                image = annotate(frame, faces.get(index, []), short_tracks=short_tracks)
                if writer is None:
                    writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*video_codec()[0]),
                                             rate, (image.shape[1], image.shape[0]))
                    if not writer.isOpened():
                        raise EegemoError(f"{target}: OpenCV cannot write this video")
                writer.write(image)
                n += 1
        finally:
            if writer is not None:
                writer.release()
        if n == 0:
            raise EegemoError(f"{source}: no frame could be decoded")
        cap = cv2.VideoCapture(str(tmp))
        try:
            read_back = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        finally:
            cap.release()
        if read_back != n:
            raise EegemoError(f"{target}: wrote {n} frames but OpenCV reads back {read_back}")
    return n


def plot_timeline(
    frames: list[dict], tracks: list[dict], classes: Sequence[str], path: Path, title: str = ""
) -> None:
    """Save each kept track's class probabilities over time as a PNG, one panel per track.

    Lines are the smoothed probabilities, dots the raw ones; tracks flagged ``short``
    are left out.

    Parameters
    ----------
    frames : list of dict
        Sampled frames with tracked faces (see :func:`~eegemo.face.track.track_video`).
    tracks : list of dict
        The track summaries :func:`~eegemo.face.track.track_video` returns.
    classes : sequence of str
        Class names.
    path : Path
        Destination ``.png``, written atomically.
    title : str
        Figure title (e.g. the video's name).
    """
    from matplotlib.figure import Figure

    kept = [t for t in tracks if not t["short"]]
    series: dict[int, list[tuple[float, list[float], list[float]]]] = {t["track"]: [] for t in kept}
    for fr in frames:
        for face in fr["faces"]:
            if face["track"] in series:
                series[face["track"]].append((
                    fr["time"], [face["probabilities"][c] for c in classes],
                    [face["raw_probabilities"][c] for c in classes],
                ))
    fig = Figure(figsize=(10, 1.2 + 2.2 * max(1, len(kept))), layout="constrained")
    axes = fig.subplots(max(1, len(kept)), 1, sharex=True, squeeze=False)[:, 0]
    for ax, track in zip(axes, kept, strict=False):
        times = [t for t, _, _ in series[track["track"]]]
        smoothed = np.array([s for _, s, _ in series[track["track"]]])
        raw = np.array([r for _, _, r in series[track["track"]]])
        for k, name in enumerate(classes):
            ax.plot(times, smoothed[:, k], color=f"C{k}", lw=1.5, label=name)
            ax.plot(times, raw[:, k], ".", color=f"C{k}", ms=3, alpha=0.4)
        ax.set(ylim=(0, 1), ylabel="probability", title=(
            f"track {track['track']}: {track['label']} in {track['label_share']:.0%} of "
            f"{track['frames']} frames, {track['start']:.2f}-{track['end']:.2f} s"))
    if kept:
        fig.legend(*axes[0].get_legend_handles_labels(), loc="outside right upper", fontsize=8)
    else:
        axes[0].text(0.5, 0.5, "no face tracked", ha="center", va="center",
                     transform=axes[0].transAxes)
    axes[-1].set_xlabel("time (s)")
    fig.suptitle(title)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
