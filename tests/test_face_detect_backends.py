"""Face detector backends: Haar always, facenet-pytorch's MTCNN when it is installed."""

from __future__ import annotations

import sys

import cv2
import numpy as np
import pytest

from eegemo.errors import EegemoError
from eegemo.face.detect import (
    BACKENDS,
    FaceBox,
    FaceDetector,
    drop_nested,
    mtcnn_available,
    read_image,
)

needs_mtcnn = pytest.mark.skipif(not mtcnn_available(), reason="facenet-pytorch not installed")


@pytest.fixture(scope="module")
def scene(fer_dir):
    """A FER2013 face upscaled to 160 px on a textured background; returns (gray, box)."""
    rng = np.random.default_rng(0)
    gray = cv2.resize(rng.integers(60, 200, (30, 40)).astype(np.uint8), (480, 360),
                      interpolation=cv2.INTER_CUBIC)
    path = sorted((fer_dir / "val" / "happy").iterdir())[0]
    face = cv2.resize(read_image(path, gray=True)[0], (160, 160), interpolation=cv2.INTER_CUBIC)
    gray[100:260, 200:360] = face
    return gray, (200, 100, 160, 160)


def test_backends_are_listed_and_an_unknown_one_is_refused():
    assert BACKENDS == ("auto", "haar", "mtcnn")
    with pytest.raises(EegemoError, match="unknown face detector backend"):
        FaceDetector(backend="yunet")


def test_auto_is_mtcnn_only_when_facenet_pytorch_imports():
    assert FaceDetector().backend == ("mtcnn" if mtcnn_available() else "haar")
    assert FaceDetector(backend="haar").backend == "haar"
    # a custom cascade is a request for Haar
    assert FaceDetector(cascade=cv2.data.haarcascades
                        + "haarcascade_frontalface_default.xml").backend == "haar"


def test_mtcnn_without_facenet_pytorch_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "facenet_pytorch", None)  # an import of it fails
    with pytest.raises(EegemoError, match=r"facenet-pytorch is not installed "
                                          r"\(pip install 'eegemo\[mtcnn\]'\)"):
        FaceDetector(backend="mtcnn")


@pytest.mark.parametrize("backend", ["haar", pytest.param("mtcnn", marks=needs_mtcnn)])
def test_each_backend_finds_the_pasted_face_with_fer_framing(scene, backend):
    gray, (gx, gy, gs, _) = scene
    boxes = FaceDetector(backend=backend).detect(gray)
    assert len(boxes) == 1
    b = boxes[0]
    assert abs(b.x + b.w / 2 - (gx + gs / 2)) < 0.15 * gs
    assert abs(b.y + b.h / 2 - (gy + gs / 2)) < 0.15 * gs
    assert 0.8 * gs <= b.w <= 1.2 * gs and b.w == b.h  # square, about the FER crop's side


@pytest.mark.parametrize("backend", ["haar", pytest.param("mtcnn", marks=needs_mtcnn)])
def test_no_face_is_an_empty_list(backend):
    detector = FaceDetector(backend=backend)
    assert detector.detect(np.full((240, 320), 128, np.uint8)) == []
    assert detector.detect(np.full((8, 8), 128, np.uint8)) == []


def test_a_detection_nested_in_a_larger_one_is_dropped():
    face, part = FaceBox(40, 40, 120, 120), FaceBox(70, 100, 54, 54)  # the mouth and chin
    beside, overlapping = FaceBox(200, 40, 100, 100), FaceBox(140, 60, 60, 60)
    # largest first; `overlapping` has a third of its area inside `face`: another face
    assert drop_nested([part, beside, face, overlapping]) == [face, beside, overlapping]
    assert drop_nested([]) == []
