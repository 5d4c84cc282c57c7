"""FER2013 readers: Kaggle CSV and image folders agree, the uint8 cache, clear errors."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from eegemo.errors import EegemoError
from eegemo.face import data as face_data
from eegemo.face.data import (
    FER_CLASSES,
    FaceDataConfig,
    is_face_data,
    load_fer_eval,
    load_fer_splits,
    read_fer_csv,
    read_image_folder,
)

FOLDERS = {"Training": "train", "PublicTest": "val", "PrivateTest": "test"}


def synthetic_faces(n_per_class: int, seed: int, size: int = 48) -> tuple[np.ndarray, np.ndarray]:
    """Images whose class is a bright horizontal band at a class-specific height."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(len(FER_CLASSES)), n_per_class)
    images = rng.integers(0, 90, (len(labels), size, size)).astype(np.uint8)
    band = size // len(FER_CLASSES)
    for i, k in enumerate(labels):
        images[i, k * band : (k + 1) * band] += 150
    return images, labels


def write_fer_csv(path: Path, n_per_class: int = 3, seed: int = 0) -> dict[str, tuple]:
    """A Kaggle-style CSV with all three usages; returns usage -> (images, labels)."""
    splits = {u: synthetic_faces(n_per_class, seed + i) for i, u in enumerate(FOLDERS)}
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["emotion", "pixels", "Usage"])
        for usage, (images, labels) in splits.items():
            for im, lab in zip(images, labels, strict=True):
                w.writerow([int(lab), " ".join(map(str, im.ravel())), usage])
    return splits


def write_fer_folders(root: Path, splits: dict[str, tuple]) -> Path:
    """The same images as PNG files in train/, val/, test/ class folders."""
    for usage, (images, labels) in splits.items():
        for i, (im, lab) in enumerate(zip(images, labels, strict=True)):
            folder = root / FOLDERS[usage] / FER_CLASSES[lab]
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(im).save(folder / f"{usage}_{i:04d}.png")
    return root


@pytest.fixture(autouse=True)
def _cache_in_tmp(tmp_path, monkeypatch):
    monkeypatch.setenv("EEGEMO_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture
def fer_pair(tmp_path):
    splits = write_fer_csv(tmp_path / "fer2013.csv")
    write_fer_folders(tmp_path / "fer", splits)
    return tmp_path / "fer2013.csv", tmp_path / "fer", splits


def _as_sorted(ds) -> list:
    return sorted((int(y), ds.images[i].numpy().tobytes()) for i, y in enumerate(ds.targets))


def test_csv_and_folders_give_the_same_classes_images_and_labels(fer_pair):
    csv_path, root, splits = fer_pair
    assert is_face_data(csv_path) and is_face_data(root)
    tr_c, va_c, classes_c = load_fer_splits(csv_path)
    tr_f, va_f, classes_f = load_fer_splits(root)
    assert classes_c == classes_f == list(FER_CLASSES)
    assert _as_sorted(tr_c) == _as_sorted(tr_f) and _as_sorted(va_c) == _as_sorted(va_f)
    images, labels = splits["PublicTest"]
    assert len(va_c) == len(labels)
    np.testing.assert_array_equal(va_c.images[:, 0].numpy(), images)
    np.testing.assert_array_equal(va_c.targets.numpy(), labels)
    x, y = tr_f[0]
    assert x.shape == (1, 48, 48) and x.dtype.is_floating_point
    assert 0.0 <= float(x.min()) and float(x.max()) <= 1.0 and int(y) in range(7)


def test_folder_class_order_is_kaggle_order_even_with_missing_classes(tmp_path):
    images, labels = synthetic_faces(2, 0)
    keep = np.isin(labels, [3, 6, 0])  # happy, neutral, angry only
    write_fer_folders(
        tmp_path / "fer",
        {"Training": (images[keep], labels[keep]), "PublicTest": (images[keep], labels[keep])},
    )
    train, _, classes = load_fer_splits(tmp_path / "fer")
    assert classes == list(FER_CLASSES)
    assert sorted(set(train.targets.tolist())) == [0, 3, 6]


def test_images_are_decoded_once_then_read_from_the_cache(fer_pair, tmp_path, monkeypatch):
    _, root, _ = fer_pair
    before = sorted(p.relative_to(root) for p in root.rglob("*"))
    first = read_image_folder(root / "train")
    caches = list((tmp_path / "cache" / "fer").glob("*.npz"))
    assert len(caches) == 1
    monkeypatch.setattr(face_data, "_decode", lambda *a: pytest.fail("decoded again"))
    again = read_image_folder(root / "train")
    assert _as_sorted(first) == _as_sorted(again)
    assert sorted(p.relative_to(root) for p in root.rglob("*")) == before  # nothing written there


def test_a_changed_folder_is_decoded_again(fer_pair):
    _, root, _ = fer_pair
    n = len(read_image_folder(root / "val"))
    Image.fromarray(np.zeros((48, 48), np.uint8)).save(root / "val" / "sad" / "extra.png")
    assert len(read_image_folder(root / "val")) == n + 1


def test_other_image_sizes_and_colour_are_converted(tmp_path):
    folder = tmp_path / "faces" / "happy"
    folder.mkdir(parents=True)
    Image.new("RGB", (100, 80), (200, 10, 10)).save(folder / "a.jpg")
    (folder / "notes.txt").write_text("not an image")
    ds = read_image_folder(tmp_path / "faces", FaceDataConfig(img_size=40))
    assert ds.images.shape == (1, 1, 40, 40) and ds.classes == list(FER_CLASSES)


def test_unreadable_images_are_skipped_with_a_warning(tmp_path):
    folder = tmp_path / "faces" / "sad"
    folder.mkdir(parents=True)
    Image.fromarray(np.zeros((48, 48), np.uint8)).save(folder / "ok.png")
    (folder / "broken.jpg").write_bytes(b"not a jpeg")
    with pytest.warns(UserWarning, match="broken.jpg"):
        ds = read_image_folder(tmp_path / "faces")
    assert len(ds) == 1


def test_evaluation_sets_follow_the_model_classes(fer_pair):
    csv_path, root, splits = fer_pair
    test_csv = load_fer_eval(csv_path)  # default: PrivateTest
    np.testing.assert_array_equal(test_csv.targets.numpy(), splits["PrivateTest"][1])
    assert len(load_fer_eval(csv_path, "val")) == len(splits["PublicTest"][1])
    assert _as_sorted(load_fer_eval(root, "test")) == _as_sorted(test_csv)
    assert _as_sorted(load_fer_eval(root, "PrivateTest")) == _as_sorted(test_csv)
    assert _as_sorted(load_fer_eval(root)) == _as_sorted(test_csv)  # default: test/
    assert _as_sorted(load_fer_eval(root / "val")) == _as_sorted(read_fer_csv(csv_path, "val"))
    reordered = list(reversed(FER_CLASSES))
    ds = load_fer_eval(csv_path, "PrivateTest", classes=reordered)
    assert [reordered[i] for i in ds.targets] == [FER_CLASSES[i] for i in splits["PrivateTest"][1]]
    with pytest.raises(EegemoError, match="not among the classes"):
        load_fer_eval(root / "val", classes=["happy", "sad"])


def test_bad_inputs_name_the_file_and_the_problem(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("label,pixels\n0,1 2 3 4\n")
    with pytest.raises(EegemoError, match=r"bad\.csv.*missing column.*emotion"):
        read_fer_csv(bad, "train")
    bad.write_text("emotion,pixels,Usage\n0,1 2 3 4,Training\n1,1 2 3,Training\n")
    with pytest.raises(EegemoError, match=r"line 3: expected 4 pixel values"):
        read_fer_csv(bad, "train")
    bad.write_text("emotion,pixels,Usage\n9,1 2 3 4,Training\n")
    with pytest.raises(EegemoError, match=r"line 2: emotion must be 0\.\.6"):
        read_fer_csv(bad, "train")
    good = tmp_path / "good.csv"
    good.write_text("emotion,pixels,Usage\n0,1 2 3 4,Training\n")
    with pytest.raises(EegemoError, match="unknown split 'dev'"):
        read_fer_csv(good, "dev")
    with pytest.raises(EegemoError, match="no rows with Usage 'PrivateTest'"):
        read_fer_csv(good, "test")
    (tmp_path / "root" / "train" / "happy").mkdir(parents=True)
    with pytest.raises(EegemoError, match="expected a val/ folder"):
        load_fer_splits(tmp_path / "root")


def test_real_fer2013_validation_folder(fer_dir, tmp_path):
    val = read_image_folder(fer_dir / "val", FaceDataConfig(cache_dir=str(tmp_path / "c")))
    assert len(val) == 3589 and val.classes == list(FER_CLASSES)
    assert val.class_counts().tolist() == [467, 56, 496, 895, 653, 415, 607]
