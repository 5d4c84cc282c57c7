"""Faces followed across video frames: track ids, short tracks, smoothing, video outputs."""

from __future__ import annotations

import csv
import itertools
import json
import re

import cv2
import numpy as np
import pytest

from eegemo.cli import main
from eegemo.errors import EegemoError
from eegemo.face.detect import FaceDetector, read_image
from eegemo.face.predict import FacePredictor, predict_path
from eegemo.face.track import IouTracker, TrackOptions, smooth_probabilities, track_video

from . import test_face_predict

face_run = test_face_predict.face_run  # the tiny trained face model, as a fixture here too

CLASSES = ["angry", "happy", "sad"]


def flips(labels) -> int:
    return sum(a != b for a, b in itertools.pairwise(labels))


def jitter(rng, box, px=2):
    return [int(v) for v in np.asarray(box) + rng.integers(-px, px + 1, 4)]


# ------------------------------------------------------------------- the tracker


def test_two_moving_faces_keep_their_ids():
    rng = np.random.default_rng(0)
    tracker = IouTracker()
    seen = []
    for i in range(40):
        left, right = [40 + 3 * i, 60 + i, 80, 80], [300 - 2 * i, 50, 70, 70]
        order = [left, right] if i % 2 else [right, left]  # detection order carries nothing
        ids = tracker.update([jitter(rng, b) for b in order])
        seen.append(tuple(ids if i % 2 else ids[::-1]))  # (left's id, right's id)
    assert seen == [(2, 1)] * 40  # the right face came first


def test_a_face_missed_for_a_frame_keeps_its_id_and_a_long_gap_ends_the_track():
    tracker = IouTracker(max_missed=2)
    ids = [tracker.update([] if i == 5 else [[50 + 6 * i, 40, 60, 60]]) for i in range(12)]
    assert ids == [[1]] * 5 + [[]] + [[1]] * 6
    for _ in range(3):  # three frames missed: more than max_missed
        assert tracker.update([]) == []
    assert tracker.update([[50 + 6 * 15, 40, 60, 60]]) == [2]


def test_a_face_that_moved_while_missed_is_found_by_its_centre():
    tracker = IouTracker()
    assert tracker.update([[100, 100, 60, 60]]) == [1]
    assert tracker.update([]) == []
    # no overlap left worth the name (IoU 0.13 after a 40-pixel jump), but the centre is
    # within one face side; a far-away face is another track
    assert tracker.update([[140, 100, 60, 60], [400, 100, 60, 60]]) == [1, 2]


def test_ids_are_not_swapped_when_faces_cross_slowly():
    rng = np.random.default_rng(1)
    tracker = IouTracker()
    ids_of: dict[int, list[int]] = {0: [], 1: []}
    for i in range(50):
        # they pass each other at i = 25, b a fifth of a face lower, boxes jittering
        a, b = [100 + 2 * i, 80, 64, 64], [200 - 2 * i, 92, 64, 64]
        boxes = [jitter(rng, a), jitter(rng, b)]
        order = [int(k) for k in rng.permutation(2)]
        ids = tracker.update([boxes[k] for k in order])
        for k, track_id in zip(order, ids, strict=True):
            ids_of[k].append(track_id)
    assert {k: set(v) for k, v in ids_of.items()} in ({0: {1}, 1: {2}}, {0: {2}, 1: {1}})


def test_faces_crossing_at_the_same_height_are_told_apart_by_their_motion():
    tracker = IouTracker()
    for i in range(50):  # identical boxes at i = 25: only the velocities tell them apart
        a, b = [200 - 2 * i, 80, 64, 64], [100 + 2 * i, 80, 64, 64]
        left_first = sorted([a, b])  # as a detector might list them
        ids = tracker.update(left_first)
        assert ids == ([1, 2] if left_first[0] == b else [2, 1])  # b came first


def _frames(boxes_per_frame, probs_per_frame, fps=10.0):
    return [
        {"frame": i, "time": round(i / fps, 4), "faces": [
            {"box": box, "label": CLASSES[int(np.argmax(p))],
             "probabilities": dict(zip(CLASSES, map(float, p), strict=True))}
            for box, p in zip(boxes, probs, strict=True)]}
        for i, (boxes, probs) in enumerate(zip(boxes_per_frame, probs_per_frame, strict=True))
    ]


def test_a_one_frame_false_positive_is_flagged_short_and_the_face_is_summarised():
    n = 20
    boxes = [[[60 + 2 * i, 50, 80, 80]] + ([[250, 10, 30, 30]] if i == 7 else [])
             for i in range(n)]
    happy, other = [0.1, 0.8, 0.1], [0.6, 0.2, 0.2]
    probs = [[happy if i % 4 else [0.2, 0.3, 0.5]] + ([other] if i == 7 else [])
             for i in range(n)]
    frames = _frames(boxes, probs)
    tracks = track_video(frames, CLASSES, TrackOptions(smooth=5))
    assert [(t["track"], t["frames"], t["short"]) for t in tracks] == [(1, 20, False), (2, 1, True)]
    face = tracks[0]
    assert face["label"] == "happy" and face["label_share"] == 1.0  # smoothed: no 'sad' frames
    assert (face["first_frame"], face["last_frame"], face["start"], face["end"]) == (0, 19, 0, 1.9)
    assert face["probabilities"]["happy"] == pytest.approx((15 * 0.8 + 5 * 0.3) / 20)
    assert frames[7]["faces"][1]["track"] == 2
    for fr in frames:
        for f in fr["faces"]:
            assert sum(f["probabilities"].values()) == pytest.approx(1, abs=1e-5)
            assert f["label"] == max(f["probabilities"], key=f["probabilities"].get)
    # the labels are smoothed; the frames' own stay available
    assert [fr["faces"][0]["label"] for fr in frames].count("sad") == 0
    assert [fr["faces"][0]["raw_label"] for fr in frames].count("sad") == 5
    assert frames[1]["faces"][0]["raw_probabilities"] == dict(zip(CLASSES, happy, strict=True))
    # or a share of the clip: a track in fewer than 30% of the frames is short
    assert [t["short"] for t in track_video(frames, CLASSES, TrackOptions(min_share=0.3))] == [
        False, True]


def test_track_options_are_checked():
    with pytest.raises(EegemoError, match="--smooth must be at least 1"):
        TrackOptions(smooth=0)
    with pytest.raises(EegemoError, match="--min-track must be a share"):
        TrackOptions(min_share=1.5)
    assert TrackOptions(min_frames=3, min_share=0.1).short_below(100) == 10


# ------------------------------------------------------------------- smoothing


def test_smoothing_reduces_label_flips_of_a_noisy_sequence():
    rng = np.random.default_rng(0)
    truth = np.array([1] * 40 + [2] * 40)
    probs = 0.3 * np.eye(3)[truth] + 0.7 * rng.dirichlet([1, 1, 1], len(truth))
    raw = probs.argmax(1)
    smoothed = smooth_probabilities(np.arange(len(truth)), probs, 7)
    np.testing.assert_allclose(smoothed.sum(1), 1)
    assert flips(smoothed.argmax(1)) < flips(raw) / 3
    assert (smoothed.argmax(1) == truth).mean() > (raw == truth).mean()
    np.testing.assert_array_equal(smooth_probabilities(np.arange(80), probs, 1), probs)


def test_smoothing_window_is_in_frames_not_detections():
    probs = np.eye(3)[[0, 0, 1, 0, 0]]
    smoothed = smooth_probabilities([0, 1, 2, 4, 5], probs, 3)  # frame 3 missed
    np.testing.assert_allclose(smoothed[:, 1], [0, 1 / 3, 1 / 2, 0, 0])


# ------------------------------------------------------------------- a real clip


@pytest.fixture(scope="module")
def clip(fer_dir, tmp_path_factory):
    """30 frames at 10 fps: a FER2013 face drifting on a textured background, and for
    one frame a second, smaller face in a corner (a stand-in for a false detection)."""
    detector = FaceDetector()
    rng = np.random.default_rng(0)
    background = cv2.GaussianBlur(rng.integers(60, 200, (240, 320), dtype=np.uint8), (0, 0), 3)
    found = []
    for path in sorted((fer_dir / "val" / "happy").iterdir())[:20]:
        side = 150 if not found else 72
        face = cv2.resize(read_image(path, gray=True)[0], (side, side),
                          interpolation=cv2.INTER_CUBIC)
        canvas = background.copy()
        canvas[40 : 40 + side, 40 : 40 + side] = face
        if detector.detect(canvas):
            found.append(face)
        if len(found) == 2:
            break
    else:
        pytest.fail("the Haar cascade found fewer than 2 of 20 upscaled FER2013 faces")
    main_face, intruder = found
    video = tmp_path_factory.mktemp("clip") / "clip.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (320, 240))
    for i in range(30):
        frame = background.copy()
        x, y = 30 + 3 * i, 30 + i
        frame[y : y + 150, x : x + 150] = main_face
        if i == 12:
            frame[160:232, 240:312] = intruder
        writer.write(cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR))
    writer.release()
    return video


def read_all_frames(path):
    cap = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    cap.release()
    return frames


def test_a_clip_gets_one_main_track_an_annotated_video_and_a_timeline(
    face_run, clip, tmp_path, capsys
):
    out, table = tmp_path / "annotated", tmp_path / "faces.csv"
    before = sorted(p.name for p in clip.parent.iterdir())
    status = main(["predict", str(clip), "--model", str(face_run), "--json", "--csv", str(table),
                   "--save-annotated", str(out)])
    assert status == 0
    record = json.loads(capsys.readouterr().out)["results"][0]
    frames, tracks = record["frames"], record["tracks"]
    assert len(frames) == 30
    kept = [t for t in tracks if not t["short"]]
    assert len(kept) == 1, tracks
    main_track = kept[0]
    assert main_track["frames"] >= 27 and main_track["start"] <= 0.2 and main_track["end"] >= 2.7
    assert 0 < main_track["label_share"] <= 1 and main_track["label"] in record["frames"][0][
        "faces"][0]["probabilities"]
    assert {12} <= {fr["frame"] for fr in frames
                    for f in fr["faces"] if f["track"] != main_track["track"]}
    assert all(t["frames"] < 3 for t in tracks if t["short"]) and len(tracks) >= 2
    for fr in frames:
        for face in fr["faces"]:
            assert {"box", "label", "probabilities", "track", "raw_probabilities",
                    "raw_label"} <= set(face)
            assert sum(face["probabilities"].values()) == pytest.approx(1, abs=1e-4)
    rows = list(csv.DictReader(table.open()))
    assert {r["track"] for r in rows} >= {str(main_track["track"])}

    video = out / "clip.annotated.mp4"
    annotated = read_all_frames(video)
    assert len(annotated) == 30 and annotated[0].shape == (240, 320, 3)
    cap = cv2.VideoCapture(str(video))
    assert cap.get(cv2.CAP_PROP_FPS) == pytest.approx(10.0)
    cap.release()
    green = (annotated[0][:, :, 1] > 200) & (annotated[0][:, :, 0] < 80)
    assert green.sum() > 200  # the main face's box and label
    timeline = cv2.imread(str(out / "clip.timeline.png"))
    assert timeline is not None and timeline.shape[1] == 1000
    assert sorted(p.name for p in out.iterdir()) == ["clip.annotated.mp4", "clip.timeline.png"]
    assert sorted(p.name for p in clip.parent.iterdir()) == before

    # every other frame: half the frames, the same tracks, a video as long
    status = main(["predict", str(clip), "--model", str(face_run), "--json", "--every", "2",
                   "--smooth", "1", "--save-annotated", str(out)])
    assert status == 0
    record = json.loads(capsys.readouterr().out)["results"][0]
    assert [fr["frame"] for fr in record["frames"]] == list(range(0, 30, 2))
    for fr in record["frames"]:
        for face in fr["faces"]:
            assert face["probabilities"] == pytest.approx(face["raw_probabilities"], abs=1e-6)
    cap = cv2.VideoCapture(str(video))
    assert cap.get(cv2.CAP_PROP_FRAME_COUNT) == 15 and cap.get(cv2.CAP_PROP_FPS) == pytest.approx(5)
    cap.release()

    # the summary line names the main track only
    assert main(["predict", str(clip), "--model", str(face_run)]) == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith(f"{clip}: 30 frames, ") and ", 1 track: #1 " in line
    assert line.endswith("left out]") and re.search(r"\(\d+% of \d+ frames, [\d.-]+ s\)", line)


def test_video_outputs_never_replace_an_input(face_run, clip, tmp_path, capsys):
    folder = tmp_path / "videos"
    folder.mkdir()
    (folder / "clip.avi").write_bytes(clip.read_bytes())
    (folder / "clip.annotated.mp4").write_bytes(clip.read_bytes())  # e.g. an earlier output
    predictor = FacePredictor.from_run(face_run)
    with pytest.raises(EegemoError, match=r"would overwrite the input .*clip\.annotated\.mp4"):
        predict_path(folder, predictor, annotate_dir=folder, progress=False)
    # beside a single video is fine: the outputs have their own names
    (folder / "clip.annotated.mp4").unlink()
    [record] = predict_path(folder / "clip.avi", predictor, annotate_dir=folder, progress=False)
    assert "error" not in record
    assert sorted(p.name for p in folder.iterdir()) == [
        "clip.annotated.mp4", "clip.avi", "clip.timeline.png"]


def test_bad_tracking_options_are_one_line(face_run, clip, capsys):
    assert main(["predict", str(clip), "--model", str(face_run), "--smooth", "0"]) == 1
    assert capsys.readouterr().err.strip() == (
        "eegemo predict: error: --smooth must be at least 1, got 0")
    assert main(["predict", str(clip), "--model", str(face_run), "--min-track", "few"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--min-track must be a number of frames" in err
