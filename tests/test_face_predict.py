"""``eegemo predict``: faces in photos, folders and videos; no face is a normal result."""

from __future__ import annotations

import csv
import json

import cv2
import numpy as np
import pytest
import torch

from eegemo.cli import main
from eegemo.face.detect import FaceDetector, crop_face, read_image, to_gray
from eegemo.face.predict import FacePredictor, iter_video_frames, predict_path

from .test_face_data import write_fer_csv, write_fer_folders


@pytest.fixture(scope="module")
def face_run(tmp_path_factory):
    """A face model trained for one epoch on tiny synthetic FER folders."""
    root = tmp_path_factory.mktemp("face_run")
    write_fer_folders(root / "fer", write_fer_csv(root / "fer.csv", n_per_class=4))
    run = root / "run"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("EEGEMO_CACHE_DIR", str(root / "cache"))
        status = main(["train", "--data", str(root / "fer"), "--out", str(run), "--no-progress",
                       "--set", "model=vgg", "--set", "model_kwargs={width=4,fc_dim=16}",
                       "--set", "epochs=1", "--set", "batch_size=16", "--set", "threads=1"])
    assert status == 0
    return run


@pytest.fixture(scope="module")
def photo(fer_dir, tmp_path_factory):
    """A 'photo': a real FER2013 face upscaled 4x on a gray colour canvas, where Haar finds it."""
    detector = FaceDetector()
    for path in sorted((fer_dir / "val" / "happy").iterdir())[:10]:
        face = cv2.resize(to_gray(read_image(path)), (192, 192), interpolation=cv2.INTER_CUBIC)
        canvas = np.full((360, 480, 3), 128, np.uint8)
        canvas[80:272, 150:342] = face[:, :, None]
        if detector.detect(to_gray(canvas)):
            out = tmp_path_factory.mktemp("photo") / "person.jpg"
            cv2.imwrite(str(out), canvas, [cv2.IMWRITE_JPEG_QUALITY, 95])
            return out
    pytest.fail("the Haar cascade found none of 10 upscaled FER2013 faces")


def blank(path, size=(360, 480)):
    cv2.imwrite(str(path), np.full((*size, 3), 128, np.uint8))
    return path


def test_a_face_in_a_photo_gets_a_box_a_label_and_probabilities(face_run, photo):
    predictor = FacePredictor.from_run(face_run)
    faces = predictor.predict_image(read_image(photo))
    assert len(faces) == 1
    x, y, w, h = faces[0]["box"]
    assert 120 <= x + w / 2 <= 370 and 50 <= y + h / 2 <= 300 and w >= 120  # on the pasted face
    probs = faces[0]["probabilities"]
    assert list(probs) == predictor.classes and sum(probs.values()) == pytest.approx(1, abs=1e-4)
    assert faces[0]["label"] == max(probs, key=probs.get)
    # the same numbers as running the model on the crop ourselves
    gray = to_gray(read_image(photo))
    crop = crop_face(gray, FaceDetector().detect(gray)[0], 48)
    with torch.no_grad():
        expected = predictor.model(torch.from_numpy(crop).float()[None, None] / 255).softmax(1)[0]
    np.testing.assert_allclose(list(probs.values()), expected.numpy(), atol=1e-5)


def test_cli_json_csv_and_annotations_for_a_folder(face_run, photo, tmp_path, capsys):
    folder = tmp_path / "photos"
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / "person.jpg").write_bytes(photo.read_bytes())
    blank(folder / "empty.png")
    (folder / "broken.jpg").write_bytes(b"not a jpeg")
    table, annotated = tmp_path / "faces.csv", tmp_path / "annotated"
    status = main(["predict", str(folder), "--model", str(face_run), "--json",
                   "--csv", str(table), "--save-annotated", str(annotated)])
    assert status == 1  # one unreadable file; the others are done
    result = json.loads(capsys.readouterr().out)
    by_name = {r["source"].split("/")[-1]: r for r in result["results"]}
    assert len(by_name["person.jpg"]["faces"]) == 1
    assert by_name["empty.png"]["faces"] == []
    assert "not a readable image" in by_name["broken.jpg"]["error"]
    rows = list(csv.DictReader(table.open()))
    assert [r["face"] for r in rows if r["source"].endswith("person.jpg")] == ["0"]
    assert [r["face"] for r in rows if r["source"].endswith("empty.png")] == [""]
    assert {"x", "y", "w", "h", "label", "p_happy", "error"} <= set(rows[0])
    assert sorted(p.relative_to(annotated).as_posix() for p in annotated.rglob("*.*")) == [
        "empty.png", "sub/person.jpg"]
    assert sorted(p.name for p in folder.rglob("*")) == ["broken.jpg", "empty.png", "person.jpg",
                                                         "sub"]


def test_a_photo_without_a_face_is_a_normal_result(face_run, tmp_path, capsys):
    image = blank(tmp_path / "wall.jpg")
    assert main(["predict", str(image), "--model", str(face_run)]) == 0
    assert capsys.readouterr().out.strip() == f"{image}: no faces"


def test_whole_image_mode_classifies_ready_crops(face_run, fer_dir):
    predictor = FacePredictor.from_run(face_run, whole_image=True)
    records = predict_path(fer_dir / "val" / "happy" / "PublicTest_10130075.jpg", predictor)
    assert len(records[0]["faces"]) == 1 and records[0]["faces"][0]["box"] == [0, 0, 48, 48]


def test_video_frames_are_sampled_with_their_times(face_run, photo, tmp_path, capsys):
    video = tmp_path / "clip.avi"
    face, empty = cv2.imread(str(photo)), np.full((360, 480, 3), 128, np.uint8)
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 5.0, (480, 360))
    for i in range(6):
        writer.write(face if i % 2 == 0 else empty)
    writer.release()
    sampled = [(i, t) for i, t, _ in iter_video_frames(video, fps=2.5)]
    assert sampled == [(0, 0.0), (2, 0.4), (4, 0.8)]

    assert main(["predict", str(video), "--model", str(face_run), "--json", "--every", "1"]) == 0
    record = json.loads(capsys.readouterr().out)["results"][0]
    assert record["kind"] == "video" and record["fps"] == pytest.approx(5.0)
    assert [f["frame"] for f in record["frames"]] == list(range(6))
    assert [f["time"] for f in record["frames"]] == pytest.approx([0, 0.2, 0.4, 0.6, 0.8, 1.0])
    assert [len(f["faces"]) for f in record["frames"]] == [1, 0, 1, 0, 1, 0]


def test_bad_inputs_are_clear_errors(face_run, photo, tmp_path, capsys):
    assert main(["predict", str(tmp_path / "missing.jpg"), "--model", str(face_run)]) == 1
    assert "no such file or folder" in capsys.readouterr().err
    (tmp_path / "notes.txt").write_text("hello")
    assert main(["predict", str(tmp_path / "notes.txt"), "--model", str(face_run)]) == 1
    assert "unknown file type .txt" in capsys.readouterr().err
    fake = tmp_path / "fake.avi"
    fake.write_bytes(b"not a video")
    assert main(["predict", str(fake), "--model", str(face_run), "--json"]) == 1
    assert "error" in json.loads(capsys.readouterr().out)["results"][0]
    assert main(["predict", str(photo), "--model", str(face_run),
                 "--save-annotated", str(photo.parent)]) == 1
    assert "would overwrite the input" in capsys.readouterr().err
