"""``eegemo predict``: faces in photos, folders and videos; no face is a normal result."""

from __future__ import annotations

import csv
import json
import struct
import zlib

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from eegemo.cli import main
from eegemo.face.detect import DEFAULT_DETECT_SIZE, FaceDetector, crop_face, read_image, to_gray
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
        face = cv2.resize(read_image(path, gray=True)[0], (192, 192), interpolation=cv2.INTER_CUBIC)
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
    faces = predictor.predict_image(read_image(photo)[0])
    assert len(faces) == 1
    x, y, w, h = faces[0]["box"]
    assert 120 <= x + w / 2 <= 370 and 50 <= y + h / 2 <= 300 and w >= 120  # on the pasted face
    probs = faces[0]["probabilities"]
    assert list(probs) == predictor.classes and sum(probs.values()) == pytest.approx(1, abs=1e-4)
    assert faces[0]["label"] == max(probs, key=probs.get)
    # the same numbers as running the model on the crop ourselves
    gray = to_gray(read_image(photo)[0])
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
    assert main(["predict", str(photo), "--model", str(face_run), "--detect-size", "0"]) == 1
    assert "--detect-size must be at least 1" in capsys.readouterr().err


class SpyDetector(FaceDetector):
    """The Haar cascade, recording the size of every image it is given."""

    def __init__(self):
        super().__init__()
        self.seen = []

    def detect(self, gray):
        self.seen.append(gray.shape)
        return super().detect(gray)


@pytest.fixture(scope="module")
def large_photo(photo, tmp_path_factory):
    """A 6000x4000 JPEG (small on disk) with the photo's face, 5x larger, at a known place."""
    canvas = np.full((4000, 6000, 3), 128, np.uint8)
    canvas[1500:3300, 3000:5400] = cv2.resize(cv2.imread(str(photo)), (2400, 1800))
    out = tmp_path_factory.mktemp("large") / "group.jpg"
    cv2.imwrite(str(out), canvas, [cv2.IMWRITE_JPEG_QUALITY, 80])
    return out, (3000 + 5 * 246, 1500 + 5 * 176)  # the face's centre: (150 + 96, 80 + 96) x 5


def test_a_large_photo_is_read_reduced_and_boxes_are_in_its_pixels(
    face_run, large_photo, tmp_path
):
    path, (cx, cy) = large_photo
    image, size = read_image(path, reduce_to=2048, gray=True)
    assert size == (6000, 4000) and image.shape == (2000, 3000)  # JPEG decoded at 1/2

    spy = SpyDetector()
    predictor = FacePredictor.from_run(face_run, detector=spy)
    assert predictor.detect_size == DEFAULT_DETECT_SIZE == 2048
    [record] = predict_path(path, predictor, annotate_dir=tmp_path / "annotated", progress=False)
    assert spy.seen == [(1365, 2048)]
    [face] = record["faces"]
    x, y, w, h = face["box"]
    assert abs(x + w / 2 - cx) < 100 and abs(y + h / 2 - cy) < 100 and 700 < w < 1200
    # the annotated copy is the reduced photo, with the box drawn at its scale
    annotated = cv2.imread(str(tmp_path / "annotated" / "group.jpg"))
    assert annotated.shape == (2000, 3000, 3)
    left_edge = annotated[round(y / 2) : round((y + h) / 2), round(x / 2)]
    np.testing.assert_allclose(np.median(left_edge, axis=0), [0, 255, 0], atol=40)


def test_large_frames_are_reduced_for_detection(face_run, photo):
    frame = cv2.resize(cv2.imread(str(photo)), (1920, 1440))
    spy = SpyDetector()
    predictor = FacePredictor.from_run(face_run, detector=spy, detect_size=480)
    [face] = predictor.predict_image(frame)
    assert spy.seen == [(360, 480)]
    x, y, w, h = face["box"]
    assert abs(x + w / 2 - 4 * 246) < 80 and abs(y + h / 2 - 4 * 176) < 80 and w > 500


@pytest.mark.parametrize(("mode", "suffix"), [
    ("RGB", ".jpg"), ("L", ".jpg"), ("CMYK", ".jpg"), ("RGBA", ".png"), ("P", ".png"),
    ("1", ".png"), ("I;16", ".png"), ("F", ".tif"),
])
def test_read_image_gives_8_bit_gray_or_bgr_from_any_mode(tmp_path, mode, suffix):
    half = np.zeros((300, 500), np.uint8)
    half[:, 250:] = 255
    if mode == "I;16":
        im = Image.fromarray(half.astype(np.uint16) * 257)
    else:
        im = Image.fromarray(half).convert(mode)
    im.save(tmp_path / f"x{suffix}")
    for gray in (True, False):
        image, size = read_image(tmp_path / f"x{suffix}", reduce_to=100, gray=gray)
        assert size == (500, 300) and image.dtype == np.uint8
        assert image.shape[:2] in ((60, 100), (75, 125))  # PNG /5, JPEG decoded at 1/4
        assert image.ndim == (2 if gray else 3)
        gray_image = to_gray(image)
        w = gray_image.shape[1]
        assert gray_image[:, : w // 2 - 2].max() < 30 and gray_image[:, w // 2 + 2 :].min() > 225


def _tiny_png(width: int, height: int) -> bytes:
    """A PNG file of a few bytes that declares ``width`` x ``height`` gray pixels."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b""))


@pytest.mark.parametrize("side", [10_000, 100_000])  # above Pillow's warning, above its error
def test_a_decompression_bomb_is_one_clear_line(face_run, tmp_path, capsys, side):
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(_tiny_png(side, side))
    assert main(["predict", str(bomb), "--model", str(face_run)]) == 1
    out = capsys.readouterr().out
    assert out.count("\n") == 1
    assert out.startswith(f"{bomb}: error: {bomb}: ") and "decompression bomb" in out
