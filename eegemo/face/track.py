"""Follow the faces of a video across frames and smooth their expression over time.

Each sampled frame's detections are linked to the tracks of the frames before
(:class:`IouTracker`): first by box overlap (intersection over union, one-to-one with
the Hungarian algorithm), then, for what is left, by the distance between box centres,
so that a face that moved while the detector missed it keeps its id. A track's box is
predicted forward with its recent velocity, which keeps the ids of two faces apart
while they cross. A track ends after ``max_missed`` sampled frames without a match.

:func:`track_video` then gives every detection of a video its ``track`` id, replaces
its ``probabilities`` and ``label`` by their average over a centred window of sampled
frames of its track (the frame's own stay as ``raw_probabilities`` and ``raw_label``),
and summarises each track. Tracks seen in fewer
frames than ``min_frames`` (or ``min_share`` of the sampled frames) are flagged
``short``: probably false detections, kept in the per-frame output but left out of
summaries.
"""

from __future__ import annotations

import dataclasses
import math
from collections import Counter
from collections.abc import Sequence

import numpy as np

from ..errors import EegemoError


@dataclasses.dataclass(frozen=True)
class TrackOptions:
    """How faces are tracked and smoothed over the sampled frames of a video.

    Parameters
    ----------
    smooth : int
        Window, in sampled frames, of the centred moving average of each track's class
        probabilities (1: no smoothing).
    max_missed : int
        A track ends after this many consecutive sampled frames without its face.
    min_frames : int
        Tracks with fewer detections are flagged ``short``.
    min_share : float
        Tracks with fewer detections than this fraction of the sampled frames are
        flagged ``short`` too (0: only ``min_frames`` counts).
    min_iou : float
        Least box overlap (intersection over union) that links a detection to a track.
    max_jump : float
        Without enough overlap, a detection is linked to a track whose predicted box
        centre is at most this many box sides away (the mean side of the two boxes).
    """

    smooth: int = 5
    max_missed: int = 5
    min_frames: int = 3
    min_share: float = 0.0
    min_iou: float = 0.3
    max_jump: float = 1.0

    def __post_init__(self) -> None:
        if self.smooth < 1:
            raise EegemoError(f"--smooth must be at least 1, got {self.smooth}")
        if self.max_missed < 0:
            raise EegemoError(f"--max-missed must be at least 0, got {self.max_missed}")
        if self.min_frames < 1:
            raise EegemoError(f"--min-track must be at least 1 frame, got {self.min_frames}")
        if not 0.0 <= self.min_share <= 1.0:
            raise EegemoError(
                f"--min-track must be a share between 0% and 100%, got {self.min_share:.0%}"
            )
        if not 0.0 < self.min_iou <= 1.0:
            raise EegemoError(f"min_iou must be in (0, 1], got {self.min_iou}")
        if self.max_jump < 0:
            raise EegemoError(f"max_jump must be at least 0, got {self.max_jump}")

    def short_below(self, n_frames: int) -> int:
        """Tracks with fewer detections than this are short, in a video of ``n_frames``."""
        return max(self.min_frames, math.ceil(self.min_share * n_frames - 1e-9))


# ------------------------------------------------------------------- tracker


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection over union of every box of ``a`` with every box of ``b``.

    Parameters
    ----------
    a, b : ndarray, shape (n, 4) and (m, 4)
        Boxes ``[x, y, w, h]``.

    Returns
    -------
    iou : ndarray, shape (n, m)
    """
    a, b = np.asarray(a, float).reshape(-1, 4), np.asarray(b, float).reshape(-1, 4)
    ax0, ay0, aw, ah = (a[:, i, None] for i in range(4))
    bx0, by0, bw, bh = (b[None, :, i] for i in range(4))
    iw = np.clip(np.minimum(ax0 + aw, bx0 + bw) - np.maximum(ax0, bx0), 0, None)
    ih = np.clip(np.minimum(ay0 + ah, by0 + bh) - np.maximum(ay0, by0), 0, None)
    inter = iw * ih
    union = aw * ah + bw * bh - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def _centre_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Distance between box centres in units of the mean side of the two boxes."""
    ca = a[:, None, :2] + a[:, None, 2:] / 2
    cb = b[None, :, :2] + b[None, :, 2:] / 2
    side = (a[:, None, 2:].mean(-1) + b[None, :, 2:].mean(-1)) / 2
    return np.linalg.norm(ca - cb, axis=-1) / np.maximum(side, 1e-9)


def _match(score: np.ndarray, good: np.ndarray) -> list[tuple[int, int]]:
    """One-to-one pairs maximising the total ``score`` (positive) among the ``good`` pairs."""
    from scipy.optimize import linear_sum_assignment

    if not good.any():
        return []
    rows, cols = linear_sum_assignment(np.where(good, score, 0.0), maximize=True)
    return [(int(r), int(c)) for r, c in zip(rows, cols, strict=True) if good[r, c]]


#: Weight of the latest step in a track's velocity (an exponential moving average): low
#: enough that box jitter barely moves the prediction of two crossing faces.
_VELOCITY_WEIGHT = 0.2


@dataclasses.dataclass
class _Track:
    id: int
    box: np.ndarray  # [x, y, w, h] when last seen
    seen: int  # sampled-frame position when last seen
    velocity: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(2))

    def predicted(self, position: int) -> np.ndarray:
        box = self.box.copy()
        box[:2] += self.velocity * (position - self.seen)
        return box

    def update(self, box: np.ndarray, position: int) -> None:
        step = (box[:2] + box[2:] / 2 - self.box[:2] - self.box[2:] / 2) / (position - self.seen)
        self.velocity = (1 - _VELOCITY_WEIGHT) * self.velocity + _VELOCITY_WEIGHT * step
        self.box, self.seen = box, position


class IouTracker:
    """Give the face boxes of consecutive sampled frames ids that persist across frames.

    Parameters
    ----------
    min_iou, max_jump, max_missed
        See :class:`TrackOptions`.

    Examples
    --------
    >>> tracker = IouTracker()
    >>> tracker.update([[10, 10, 50, 50]]), tracker.update([[13, 11, 50, 50]])
    ([1], [1])
    """

    def __init__(self, min_iou: float = 0.3, max_jump: float = 1.0, max_missed: int = 5) -> None:
        self.min_iou = min_iou
        self.max_jump = max_jump
        self.max_missed = max_missed
        self._tracks: list[_Track] = []
        self._position = 0
        self._next_id = 1

    def update(self, boxes: Sequence[Sequence[float]]) -> list[int]:
        """Link the boxes of the next sampled frame to the tracks.

        Parameters
        ----------
        boxes : sequence of ``[x, y, w, h]``
            The frame's detections (possibly none).

        Returns
        -------
        ids : list of int
            The track id of each box, in the order given; new faces get new ids.
        """
        position = self._position
        self._position += 1
        self._tracks = [t for t in self._tracks if position - t.seen <= self.max_missed + 1]
        found = np.asarray(boxes, float).reshape(-1, 4)
        predicted = np.array([t.predicted(position) for t in self._tracks]).reshape(-1, 4)
        iou = iou_matrix(predicted, found)
        pairs = _match(iou, iou >= self.min_iou)
        matched_t, matched_b = {t for t, _ in pairs}, {b for _, b in pairs}
        free_t = [i for i in range(len(predicted)) if i not in matched_t]
        free_b = [j for j in range(len(found)) if j not in matched_b]
        if free_t and free_b:
            dist = _centre_distance(predicted[free_t], found[free_b])
            near = _match(1.0 + self.max_jump - dist, dist <= self.max_jump)
            pairs += [(free_t[t], free_b[b]) for t, b in near]
        ids = [0] * len(found)
        for t, b in pairs:
            self._tracks[t].update(found[b], position)
            ids[b] = self._tracks[t].id
        for b in range(len(found)):
            if not ids[b]:
                self._tracks.append(_Track(self._next_id, found[b], position))
                ids[b] = self._next_id
                self._next_id += 1
        return ids


# ------------------------------------------------------------------- smoothing


def smooth_probabilities(positions: Sequence[int], probs: np.ndarray, window: int) -> np.ndarray:
    """Centred moving average of one track's class probabilities over sampled frames.

    Each detection gets the mean of the track's detections whose frame position lies in
    a window of ``window`` sampled frames centred on it (``window // 2`` before, the
    rest after); frames where the face was missed, and the ends of the track, simply
    contribute nothing, so the average is over fewer detections there.

    Parameters
    ----------
    positions : sequence of int
        Increasing sampled-frame position of each detection.
    probs : ndarray, shape (n, n_classes)
        The detections' class probabilities.
    window : int
        Window length in sampled frames; 1 returns ``probs`` unchanged.

    Returns
    -------
    smoothed : ndarray, shape (n, n_classes)
        Still sums to one per row.
    """
    probs = np.asarray(probs, float)
    positions = np.asarray(positions, int)
    if window <= 1 or len(probs) == 0:
        return probs.copy()
    offset = positions - positions[0]
    dense = np.zeros((offset[-1] + 1, probs.shape[1]))
    count = np.zeros(offset[-1] + 1)
    dense[offset], count[offset] = probs, 1.0
    csum = np.concatenate([np.zeros((1, probs.shape[1])), dense.cumsum(0)])
    ccount = np.concatenate([[0.0], count.cumsum()])
    lo = np.clip(offset - window // 2, 0, None)
    hi = np.clip(offset + (window - 1 - window // 2) + 1, None, len(count))
    return (csum[hi] - csum[lo]) / (ccount[hi] - ccount[lo])[:, None]


# ------------------------------------------------------------------- a video


def track_video(
    frames: list[dict], classes: Sequence[str], options: TrackOptions | None = None
) -> list[dict]:
    """Track the faces of a video's sampled frames, smooth them, and summarise each track.

    Every face dict of ``frames`` gains ``track`` (its id); its ``probabilities``
    (class -> probability) and ``label`` become the smoothed ones (see
    :func:`smooth_probabilities`), the frame's own moving to ``raw_probabilities``
    and ``raw_label``.

    Parameters
    ----------
    frames : list of dict
        The sampled frames in order, each with ``frame``, ``time`` and ``faces`` (as
        :meth:`~eegemo.face.predict.FacePredictor.predict_image` returns them); changed
        in place.
    classes : sequence of str
        Class names in the order of the probabilities.
    options : TrackOptions, optional
        Default: :class:`TrackOptions` with its defaults.

    Returns
    -------
    tracks : list of dict
        One per track, by id: ``track``, ``frames`` (number of detections),
        ``first_frame``, ``last_frame``, ``start`` and ``end`` (seconds),
        ``probabilities`` (mean of the raw ones), ``label`` (the most frequent
        smoothed label), ``label_share`` (its share of the track's detections) and
        ``short`` (probably a false detection).
    """
    options = options or TrackOptions()
    tracker = IouTracker(options.min_iou, options.max_jump, options.max_missed)
    members: dict[int, list[tuple[int, dict, dict]]] = {}
    for position, frame in enumerate(frames):
        ids = tracker.update([face["box"] for face in frame["faces"]])
        for face, track_id in zip(frame["faces"], ids, strict=True):
            face["track"] = track_id
            members.setdefault(track_id, []).append((position, frame, face))
    short_below = options.short_below(len(frames))
    tracks = []
    for track_id, seen in sorted(members.items()):
        raw = np.array([[face["probabilities"][c] for c in classes] for _, _, face in seen])
        smoothed = smooth_probabilities([p for p, _, _ in seen], raw, options.smooth)
        for (_, _, face), row in zip(seen, smoothed, strict=True):
            face["raw_probabilities"], face["raw_label"] = face["probabilities"], face["label"]
            face["probabilities"] = {
                c: round(float(v), 6) for c, v in zip(classes, row, strict=True)
            }
            face["label"] = classes[int(row.argmax())]
        label, count = Counter(face["label"] for _, _, face in seen).most_common(1)[0]
        tracks.append({
            "track": track_id,
            "frames": len(seen),
            "first_frame": seen[0][1]["frame"],
            "last_frame": seen[-1][1]["frame"],
            "start": seen[0][1]["time"],
            "end": seen[-1][1]["time"],
            "probabilities": {
                c: round(float(v), 6) for c, v in zip(classes, raw.mean(0), strict=True)
            },
            "label": label,
            "label_share": round(count / len(seen), 4),
            "short": len(seen) < short_below,
        })
    return tracks
