"""Find faces in photos and video frames with OpenCV's bundled Haar cascade, offline.

The frontal-face cascade ships inside ``opencv-python-headless`` 4.x
(``cv2.data.haarcascades``), so nothing is downloaded. Detected boxes are grown by
a margin so that the crops are framed like FER2013's faces, then converted to
grayscale and resized to the model's input. The default margin was measured: on
300 FER2013 validation faces upscaled four times onto a gray canvas, the cascade
found 216, with boxes centred on the face and a median side of 0.95 of the
FER2013 crop.

Two backends: ``"haar"`` (above, always available) and ``"mtcnn"``, facenet-pytorch's
MTCNN (MIT licence; its three small networks' weights, 2 MB, ship inside the
``facenet-pytorch`` wheel, so nothing is downloaded either). ``backend="auto"`` (the
default) uses MTCNN when ``facenet_pytorch`` is importable and Haar otherwise. On
labelled synthetic scenes (``benchmarks/face_detectors.py``, see docs/faces.md) MTCNN
found 88-90% of the faces against Haar's 71-72%, with fewer false detections, at
about 1.4-1.7 times Haar's CPU time (one thread).
Install it with ``pip install facenet-pytorch==2.5.3``: 2.6.0 pins ``torch<2.3``.

Large photos are never held at full resolution: :func:`read_image` decodes a JPEG
directly at 1/2, 1/4 or 1/8 of its size (libjpeg's DCT scaling) and reduces other
formats right after decoding, so that a photo's memory does not grow with its pixel
count beyond a cap.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from ..environment import import_optional
from ..errors import EegemoError

#: Box growth (fraction of the box side, split over both sides) matching FER2013 framing.
DEFAULT_MARGIN = 0.05
#: Longer side, in pixels, of the image the detector sees; larger images are reduced to it.
DEFAULT_DETECT_SIZE = 2048
#: Detector backends; ``"auto"`` is MTCNN when facenet-pytorch is importable, else Haar.
BACKENDS = ("auto", "haar", "mtcnn")
#: MTCNN's box (taller than wide) to FER2013 framing: a square of this many times the
#: geometric mean of its sides, same centre. Measured like the Haar margin: on 40
#: synthetic scenes (benchmarks/face_detectors.py, seed 1), MTCNN's box had
#: sqrt(w*h) = 0.904 of the pasted FER2013 face's side against Haar's 0.969.
MTCNN_BOX_SCALE = 0.969 / 0.904
#: A detection with at least this share of its area inside a larger one is dropped.
NESTED_SHARE = 0.5


def opencv():
    """OpenCV, which face detection and reading photos and videos use (extra ``face``)."""
    return import_optional("cv2", "face detection and reading photos and videos")



@dataclasses.dataclass(frozen=True)
class FaceBox:
    """A face's bounding box in image pixels (left, top, width, height)."""

    x: int
    y: int
    w: int
    h: int

    def as_list(self) -> list[int]:
        """``[x, y, w, h]`` as plain ints (JSON-friendly)."""
        return [self.x, self.y, self.w, self.h]

    def scaled(self, sx: float, sy: float) -> FaceBox:
        """The box in the pixels of an image ``sx`` times wider and ``sy`` times taller."""
        x, y, w, h = self.x * sx, self.y * sy, self.w * sx, self.h * sy
        return FaceBox(round(x), round(y), round(w), round(h))


def drop_nested(boxes: list[FaceBox], max_inside: float = NESTED_SHARE) -> list[FaceBox]:
    """Boxes largest first, without those lying mostly inside a larger kept box.

    Faces do not nest, but the Haar cascade often also fires on part of a face (an
    eye and the nose, the mouth): such a box, with at least ``max_inside`` of its area
    inside a larger box, is a second detection of the same face.

    Parameters
    ----------
    boxes : list of FaceBox
    max_inside : float
        Share of a box's area inside a larger box from which it is dropped.

    Returns
    -------
    boxes : list of FaceBox
    """
    kept: list[FaceBox] = []
    for b in sorted(boxes, key=lambda b: b.w * b.h, reverse=True):
        inside = (
            max(0, min(b.x + b.w, k.x + k.w) - max(b.x, k.x))
            * max(0, min(b.y + b.h, k.y + k.h) - max(b.y, k.y))
            for k in kept
        )
        if all(area < max_inside * b.w * b.h for area in inside):
            kept.append(b)
    return kept


def to_gray(image: np.ndarray) -> np.ndarray:
    """Convert an OpenCV image (gray, BGR or BGRA; 8 or 16 bit) to 8-bit grayscale.

    Parameters
    ----------
    image : ndarray
        ``(H, W)``, ``(H, W, 1)``, ``(H, W, 3)`` (BGR) or ``(H, W, 4)`` (BGRA).

    Returns
    -------
    gray : ndarray of uint8, shape (H, W)
    """
    cv2 = opencv()

    if image.dtype == np.uint16:
        image = (image // 257).astype(np.uint8)
    elif image.dtype != np.uint8:
        image = np.clip(image, 0, 255).astype(np.uint8)
    if image.ndim == 2:
        return image
    if image.ndim == 3 and image.shape[2] == 1:
        return image[:, :, 0]
    if image.ndim == 3 and image.shape[2] == 3:
        return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    if image.ndim == 3 and image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2GRAY)
    raise EegemoError(f"unsupported image shape {image.shape}; expected gray, BGR or BGRA")


def mtcnn_available() -> bool:
    """Whether facenet-pytorch (the ``"mtcnn"`` backend) can be imported."""
    import importlib.util

    return importlib.util.find_spec("facenet_pytorch") is not None


class FaceDetector:
    """Frontal faces with OpenCV's Haar cascade or, when installed, facenet-pytorch's MTCNN.

    Parameters
    ----------
    backend : {"auto", "haar", "mtcnn"}
        ``"auto"``: MTCNN when facenet-pytorch is importable, else the Haar cascade.
        The resolved name is in :attr:`backend`.
    scale_factor : float
        Image pyramid step of ``detectMultiScale`` (smaller: slower, finds more sizes).
    min_neighbors : int
        Overlapping detections needed to keep a face (higher: fewer false positives).
    min_size : int
        Smallest face side in pixels.
    cascade : path-like, optional
        Another cascade XML file; default ``haarcascade_frontalface_default.xml``.
    min_confidence : float
        MTCNN only: smallest face probability kept.

    ``scale_factor``, ``min_neighbors`` and ``cascade`` apply to the Haar cascade only.
    """

    def __init__(
        self,
        scale_factor: float = 1.1,
        min_neighbors: int = 5,
        min_size: int = 24,
        cascade: str | Path | None = None,
        backend: str = "auto",
        min_confidence: float = 0.9,
    ) -> None:
        if backend not in BACKENDS:
            raise EegemoError(f"unknown face detector backend {backend!r}; one of {BACKENDS}")
        if backend == "auto":
            backend = "mtcnn" if cascade is None and mtcnn_available() else "haar"
        self.backend = backend
        self.scale_factor = scale_factor
        self.min_neighbors = min_neighbors
        self.min_size = min_size
        self.min_confidence = min_confidence
        if backend == "mtcnn":
            self._mtcnn = _load_mtcnn(min_size)
            return
        cv2 = opencv()

        if scale_factor <= 1.0:
            raise EegemoError(f"scale_factor must be greater than 1, got {scale_factor}")
        if not hasattr(cv2, "CascadeClassifier"):
            raise EegemoError(
                "this OpenCV has no CascadeClassifier (OpenCV 5 dropped it); "
                "install opencv-python-headless 4.x"
            )
        path = Path(cascade) if cascade else Path(cv2.data.haarcascades) / (
            "haarcascade_frontalface_default.xml"
        )
        self._cascade = cv2.CascadeClassifier(str(path))
        if self._cascade.empty():
            raise EegemoError(f"{path}: cannot load the Haar cascade")

    def detect(self, gray: np.ndarray) -> list[FaceBox]:
        """Faces in a grayscale image, largest first, without boxes nested in another.

        Parameters
        ----------
        gray : ndarray of uint8, shape (H, W)

        Returns
        -------
        boxes : list of FaceBox
            Empty when there is no face (a normal result).
        """
        cv2 = opencv()

        if gray.ndim != 2:
            gray = to_gray(gray)
        if self.backend == "mtcnn":
            return self._detect_mtcnn(gray)
        found = self._cascade.detectMultiScale(
            cv2.equalizeHist(gray),
            scaleFactor=self.scale_factor,
            minNeighbors=self.min_neighbors,
            minSize=(self.min_size, self.min_size),
        )
        boxes = [FaceBox(int(x), int(y), int(w), int(h)) for x, y, w, h in np.asarray(found)]
        return drop_nested(boxes)

    def _detect_mtcnn(self, gray: np.ndarray) -> list[FaceBox]:
        """MTCNN on the gray image (as RGB); boxes made square and framed like Haar's."""
        import torch

        if gray.shape[0] < 12 or gray.shape[1] < 12:
            return []  # below MTCNN's smallest window
        rgb = np.ascontiguousarray(np.repeat(gray[:, :, None], 3, axis=2))
        with torch.inference_mode():
            found, probs = self._mtcnn.detect(rgb)
        if found is None:
            return []
        boxes = []
        for (x0, y0, x1, y1), p in zip(found, probs, strict=True):
            if p < self.min_confidence:
                continue
            side = float(np.sqrt(max(x1 - x0, 1e-3) * max(y1 - y0, 1e-3))) * MTCNN_BOX_SCALE
            cx, cy = (x0 + x1) / 2.0, (y0 + y1) / 2.0
            s = max(1, round(side))
            boxes.append(FaceBox(round(cx - side / 2), round(cy - side / 2), s, s))
        return drop_nested(boxes)


def _load_mtcnn(min_size: int):
    """facenet-pytorch's MTCNN on the CPU, weights from its wheel (nothing downloaded)."""
    facenet = import_optional("facenet_pytorch", "the mtcnn face detector (or use the haar one)")
    return facenet.MTCNN(keep_all=True, device="cpu", min_face_size=max(12, int(min_size)))


def crop_face(
    gray: np.ndarray, box: FaceBox, size: int = 48, margin: float = DEFAULT_MARGIN
) -> np.ndarray:
    """Square grayscale crop around ``box``, grown by ``margin``, resized to ``size``.

    Parts of the grown box outside the image are filled by replicating the border.

    Parameters
    ----------
    gray : ndarray of uint8, shape (H, W)
    box : FaceBox
    size : int
        Output side in pixels.
    margin : float
        Fraction of the box side added in total (half on each side).

    Returns
    -------
    crop : ndarray of uint8, shape (size, size)
    """
    cv2 = opencv()

    side = max(box.w, box.h) * (1.0 + margin)
    cx, cy = box.x + box.w / 2.0, box.y + box.h / 2.0
    x0, y0 = round(cx - side / 2), round(cy - side / 2)
    s = max(1, round(side))
    h, w = gray.shape
    pad = max(0, -x0, -y0, x0 + s - w, y0 + s - h)
    if pad:
        gray = cv2.copyMakeBorder(gray, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
        x0, y0 = x0 + pad, y0 + pad
    crop = gray[y0 : y0 + s, x0 : x0 + s]
    interp = cv2.INTER_AREA if s > size else cv2.INTER_LINEAR
    return cv2.resize(crop, (size, size), interpolation=interp)


def read_image(
    path: str | Path, reduce_to: int | None = None, gray: bool = False
) -> tuple[np.ndarray, tuple[int, int]]:
    """Read an image file, reduced while decoding when it is large.

    With ``reduce_to``, the image is shrunk by the largest whole factor that keeps its
    longer side at least ``reduce_to`` pixels (so below twice that): a JPEG is decoded
    directly at 1/2, 1/4 or 1/8 of its size and the rest averaged over blocks of pixels
    after decoding, so the full-resolution pixels of a JPEG never sit in memory. Images
    whose decoding would take more than :data:`PIL.Image.MAX_IMAGE_PIXELS` pixels (about
    89 million; every non-JPEG format is decoded at full size first) are refused as
    possible decompression bombs.

    Parameters
    ----------
    path : path-like
        Any image Pillow reads (JPEG, PNG, BMP, PGM, TIFF, WebP, ...).
    reduce_to : int, optional
        Keep the longer side at least this long; default: full size.
    gray : bool
        Return 8-bit grayscale (a JPEG then decodes its luminance only) instead of BGR.

    Returns
    -------
    image : ndarray of uint8, shape (H, W) or (H, W, 3)
        Grayscale or BGR (OpenCV's channel order); 16-bit images are scaled to 8 bits.
    size : tuple of int
        ``(width, height)`` of the image in the file.

    Raises
    ------
    EegemoError
        When the file is missing, not a readable image, or too large to decode.
    """
    import warnings

    cv2 = opencv()
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    mode = "L" if gray else "RGB"
    try:
        with warnings.catch_warnings():
            # the decoded pixel count is checked below, after the cheap JPEG reduction
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                size = im.size
                factor = max(size) // reduce_to if reduce_to else 1
                # JPEG only (other formats ignore it): decoding straight to gray, and
                # at 1/2, 1/4 or 1/8 scale when the image is at least twice too large
                im.draft(mode, _draft_size(size, factor) if factor > 1 else None)
                _check_pixels(path, im.size)
                decoded = _eight_bit(im)
                factor = max(decoded.size) // reduce_to if reduce_to else 1
                if factor > 1:
                    decoded = decoded.reduce(factor)
                pixels = np.asarray(decoded.convert(mode))
    except Image.DecompressionBombError as exc:
        raise EegemoError(f"{path}: {exc}") from None  # Pillow's own limit, twice ours
    except UnidentifiedImageError:
        raise EegemoError(f"{path}: not a readable image") from None
    except (OSError, ValueError) as exc:
        raise EegemoError(f"{path}: cannot read: {getattr(exc, 'strerror', None) or exc}") from None
    return (pixels if gray else cv2.cvtColor(pixels, cv2.COLOR_RGB2BGR)), size


def _draft_size(size: tuple[int, int], factor: int) -> tuple[int, int]:
    """The size to ask ``Image.draft`` for so that it scales by at most ``factor``."""
    w, h = size
    return max(1, w // factor), max(1, h // factor)


def _check_pixels(path: Path, size: tuple[int, int]) -> None:
    from PIL import Image

    limit = Image.MAX_IMAGE_PIXELS
    if limit is not None and size[0] * size[1] > limit:
        raise EegemoError(
            f"{path}: refused as a possible decompression bomb: decoding it takes "
            f"{size[0]}x{size[1]} pixels, more than PIL.Image.MAX_IMAGE_PIXELS ({limit:,})"
        )


def _eight_bit(im):
    """``im`` in a mode ``Image.reduce`` handles (not palette, 1-bit or 16-bit)."""
    from PIL import Image

    if im.mode in ("P", "PA"):
        return im.convert("RGBA")
    if im.mode == "1":
        return im.convert("L")
    if im.mode.startswith("I;16"):
        return Image.fromarray((np.asarray(im).astype(np.uint16) // 257).astype(np.uint8))
    return im
