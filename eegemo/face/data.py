"""FER2013 from the Kaggle CSV or from image folders, decoded once into a uint8 cache.

Two layouts give the same data and the same class order (Kaggle's: angry=0,
disgust=1, fear=2, happy=3, sad=4, surprise=5, neutral=6):

* the Kaggle CSV ``fer2013.csv`` with columns ``emotion,pixels,Usage`` where
  ``Usage`` is ``Training``, ``PublicTest`` or ``PrivateTest``;
* a folder with ``train/``, ``val/`` (and optionally ``test/``) subfolders, each
  holding one folder of images per class.

Decoding 28,709 JPEGs takes a while, so every source is decoded once (with
threads) into an uncompressed ``.npz`` of uint8 images in a cache folder
(``$EEGEMO_CACHE_DIR/fer`` or ``~/.cache/eegemo/fer``) keyed by the source's path,
size and modification times; the data folder itself is never written to.
:class:`FaceDataset` then serves float images in [0, 1] straight from memory.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import json
import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..atomic import atomic_open
from ..config import option
from ..errors import ConfigError, EegemoError

#: Class names in the Kaggle label order (the index is the ``emotion`` column).
FER_CLASSES = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")

#: Split names accepted everywhere, and the Kaggle ``Usage`` each one means.
CSV_USAGES = {"train": "Training", "val": "PublicTest", "test": "PrivateTest"}

#: File name endings read as images in class folders.
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".pgm", ".tif", ".tiff", ".webp"})

_CACHE_VERSION = 1


@dataclasses.dataclass
class FaceDataConfig:
    """How face images are read and cached."""

    img_size: int = option(48, "images are resized to img_size x img_size grayscale if needed")
    train_split: str = option("train", "training split: a folder name or a CSV usage alias")
    val_split: str = option(
        "val", "validation split used for model selection and early stopping (PublicTest)"
    )
    cache_dir: str = option(
        "", "folder for decoded-image caches (empty: $EEGEMO_CACHE_DIR/fer or ~/.cache/eegemo/fer)"
    )
    decode_jobs: int = option(4, "threads decoding image files the first time a folder is read")

    def __post_init__(self) -> None:
        if self.img_size < 8:
            raise ConfigError(f"img_size: expected at least 8 pixels, got {self.img_size}")
        for key in ("train_split", "val_split"):
            if not getattr(self, key):
                raise ConfigError(f"{key}: expected a folder name or CSV usage, got ''")
        if self.decode_jobs < 1:
            raise ConfigError(f"decode_jobs: expected at least 1, got {self.decode_jobs}")


class FaceDataset:
    """Grayscale face images held in memory as uint8, served as float tensors in [0, 1].

    Parameters
    ----------
    images : array-like of uint8, shape (n, H, W)
        The images.
    labels : array-like of int, shape (n,)
        Class index of each image.
    classes : sequence of str
        Class names, in index order.
    source : str
        Where the images came from (for messages and reports).

    Attributes
    ----------
    images : torch.Tensor
        ``(n, 1, H, W)`` uint8.
    targets : torch.Tensor
        ``(n,)`` int64 class indices.
    classes : list of str
        Class names.
    """

    def __init__(
        self, images: Any, labels: Any, classes: Sequence[str], source: str = ""
    ) -> None:
        import torch

        images = torch.as_tensor(np.asarray(images, dtype=np.uint8))
        labels = torch.as_tensor(np.asarray(labels, dtype=np.int64))
        where = source or "face data"
        if images.ndim != 3:
            raise EegemoError(
                f"{where}: expected images of shape (n, H, W), got {tuple(images.shape)}"
            )
        if len(images) != len(labels):
            raise EegemoError(f"{where}: {len(images)} images but {len(labels)} labels")
        if len(labels) and (int(labels.min()) < 0 or int(labels.max()) >= len(classes)):
            raise EegemoError(
                f"{where}: labels must lie in 0..{len(classes) - 1}, "
                f"got {int(labels.min())}..{int(labels.max())}"
            )
        self.images = images.unsqueeze(1).contiguous()
        self.targets = labels
        self.classes = list(classes)
        self.source = source

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, index: int):
        return self.images[index].float().div_(255.0), self.targets[index]

    @property
    def labels(self) -> np.ndarray:
        """Class index of every image as a numpy array."""
        return self.targets.numpy()

    def class_counts(self) -> np.ndarray:
        """Number of images of each class."""
        return np.bincount(self.labels, minlength=len(self.classes))

    def __repr__(self) -> str:
        h, w = self.images.shape[-2:]
        n_classes = len(self.classes)
        return f"FaceDataset({len(self)} images {h}x{w}, {n_classes} classes, {self.source!r})"


# ---------------------------------------------------------------- layouts


def is_face_data(path: str | os.PathLike) -> bool:
    """True if ``path`` looks like FER2013: a ``.csv`` file or a folder with ``train/``.

    Parameters
    ----------
    path : path-like
        What the user gave to ``eegemo train --data``.
    """
    path = Path(path)
    if path.is_file():
        return path.suffix.lower() == ".csv"
    return path.is_dir() and (path / "train").is_dir()


def class_order(names: Sequence[str]) -> list[str]:
    """Class list for a set of class-folder names.

    Folders named after FER2013 emotions (any subset, any case) give all seven
    classes in Kaggle order, so every split and the CSV agree. Other names (a
    different data set) are sorted alphabetically.
    """
    lowered = {n.lower() for n in names}
    if lowered <= set(FER_CLASSES):
        return list(FER_CLASSES)
    return sorted(names)


def _class_folders(folder: Path) -> list[Path]:
    subdirs = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not subdirs:
        raise EegemoError(f"{folder}: expected one subfolder of images per class, found none")
    return subdirs


def _resolve_csv_usage(split: str, path: Path) -> str:
    if split in CSV_USAGES:
        return CSV_USAGES[split]
    if split in CSV_USAGES.values():
        return split
    raise EegemoError(
        f"{path}: unknown split {split!r}; expected one of "
        f"{', '.join(list(CSV_USAGES) + list(CSV_USAGES.values()))}"
    )


# ---------------------------------------------------------------- cache


def default_cache_dir() -> Path:
    """``$EEGEMO_CACHE_DIR/fer`` if set, else ``~/.cache/eegemo/fer``."""
    base = os.environ.get("EEGEMO_CACHE_DIR")
    return (Path(base) if base else Path.home() / ".cache" / "eegemo") / "fer"


def _cache_file(cache_dir: Path, source: Path, fingerprint: dict) -> Path:
    digest = hashlib.sha1(json.dumps(fingerprint, sort_keys=True).encode()).hexdigest()[:16]
    return cache_dir / f"{source.stem or 'data'}-{digest}.npz"


def _read_cache(path: Path) -> dict[str, np.ndarray] | None:
    import zipfile

    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as npz:
            return {k: npz[k] for k in npz.files}
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError) as exc:
        warnings.warn(f"ignoring unreadable cache {path}: {exc}", stacklevel=3)
        return None


def _write_cache(path: Path, arrays: dict[str, np.ndarray]) -> None:
    try:
        with atomic_open(path, "wb") as fh:
            np.savez(fh, **arrays)
    except OSError as exc:
        warnings.warn(f"could not write the image cache {path}: {exc}", stacklevel=3)


def _cached(
    cache_dir: Path | None, source: Path, fingerprint: dict, build
) -> dict[str, np.ndarray]:
    """Return the cached arrays for ``fingerprint`` or ``build()`` them and cache them."""
    fingerprint = {**fingerprint, "version": _CACHE_VERSION, "path": str(source.resolve())}
    path = _cache_file(cache_dir or default_cache_dir(), source, fingerprint)
    arrays = _read_cache(path)
    if arrays is None:
        arrays = build()
        _write_cache(path, arrays)
    return arrays


# ---------------------------------------------------------------- CSV


def _parse_fer_csv(path: Path, img_size: int) -> dict[str, np.ndarray]:
    """Read every row of a Kaggle FER2013 CSV into uint8 images, labels and usages."""
    from tqdm import tqdm

    images, labels, usages = [], [], []
    usage_codes = {u: i for i, u in enumerate(CSV_USAGES.values())}
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        missing = {"emotion", "pixels"} - set(reader.fieldnames or ())
        if missing:
            raise EegemoError(
                f"{path}: not a FER2013 CSV: missing column(s) {', '.join(sorted(missing))} "
                f"(expected emotion,pixels,Usage; found {', '.join(reader.fieldnames or [])})"
            )
        has_usage = "Usage" in (reader.fieldnames or ())
        side = None
        rows = tqdm(reader, desc=f"reading {path.name}", unit=" rows", disable=None)
        for line, row in enumerate(rows, 2):
            try:
                emotion = int(row["emotion"])
                pixels = np.array(row["pixels"].split(), dtype=np.int64)
            except (TypeError, ValueError):
                raise EegemoError(
                    f"{path}, line {line}: emotion and pixels must be integers"
                ) from None
            if side is None:
                side = round(float(np.sqrt(pixels.size)))
            lo, hi = pixels.min(initial=0), pixels.max(initial=0)
            if pixels.size != side * side or lo < 0 or hi > 255:
                raise EegemoError(
                    f"{path}, line {line}: expected {side * side} pixel values in 0..255, "
                    f"got {pixels.size} values in {lo}..{hi}"
                )
            if not 0 <= emotion < len(FER_CLASSES):
                raise EegemoError(
                    f"{path}, line {line}: emotion must be 0..{len(FER_CLASSES) - 1}, got {emotion}"
                )
            usage = row.get("Usage", "Training") if has_usage else "Training"
            if usage not in usage_codes:
                raise EegemoError(
                    f"{path}, line {line}: Usage must be one of "
                    f"{', '.join(usage_codes)}, got {usage!r}"
                )
            images.append(pixels.astype(np.uint8).reshape(side, side))
            labels.append(emotion)
            usages.append(usage_codes[usage])
    if not images:
        raise EegemoError(f"{path}: the CSV has no rows")
    stacked = np.stack(images)
    if side != img_size:
        stacked = np.stack([_resize(im, img_size) for im in stacked])
    return {
        "images": stacked,
        "labels": np.asarray(labels, dtype=np.int64),
        "usage": np.asarray(usages, dtype=np.int8),
    }


def read_fer_csv(
    path: str | os.PathLike, split: str, config: FaceDataConfig | None = None
) -> FaceDataset:
    """One usage of a Kaggle ``fer2013.csv`` as a :class:`FaceDataset`.

    Parameters
    ----------
    path : path-like
        The CSV (``emotion,pixels,Usage``).
    split : str
        ``train``/``val``/``test`` or the usage itself (``Training``, ``PublicTest``,
        ``PrivateTest``).
    config : FaceDataConfig, optional
        Image size and cache location.

    Returns
    -------
    dataset : FaceDataset
    """
    config = config or FaceDataConfig()
    path = Path(path)
    if not path.is_file():
        raise EegemoError(f"{path}: FER2013 CSV not found")
    usage = _resolve_csv_usage(split, path)
    st = path.stat()
    arrays = _cached(
        _cache_dir(config),
        path,
        {"kind": "csv", "size": st.st_size, "mtime": st.st_mtime_ns, "img_size": config.img_size},
        lambda: _parse_fer_csv(path, config.img_size),
    )
    keep = arrays["usage"] == list(CSV_USAGES.values()).index(usage)
    if not keep.any():
        raise EegemoError(f"{path}: no rows with Usage {usage!r}")
    return FaceDataset(
        arrays["images"][keep], arrays["labels"][keep], FER_CLASSES, source=f"{path} [{usage}]"
    )


# ---------------------------------------------------------------- image folders


def _resize(image: np.ndarray, size: int) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.fromarray(image).resize((size, size), Image.Resampling.BILINEAR))


def _decode(files: list[str], size: int) -> list[np.ndarray | str]:
    """Decode image files to (size, size) uint8 grayscale; an error message for bad files."""
    from PIL import Image, UnidentifiedImageError

    out: list[np.ndarray | str] = []
    for f in files:
        try:
            with Image.open(f) as im:
                im = im.convert("L")
                if im.size != (size, size):
                    im = im.resize((size, size), Image.Resampling.BILINEAR)
                out.append(np.asarray(im, dtype=np.uint8))
        except (OSError, UnidentifiedImageError, ValueError) as exc:
            out.append(f"{f}: {exc}")
    return out


def _list_class_images(folder: Path) -> tuple[list[str], list[str], list[tuple]]:
    """Image files, their class-folder names, and a fingerprint of every file."""
    files, names, stamp = [], [], []
    for sub in _class_folders(folder):
        with os.scandir(sub) as it:
            entries = sorted(
                (e for e in it if e.is_file() and Path(e.name).suffix.lower() in IMAGE_SUFFIXES),
                key=lambda e: e.name,
            )
        for e in entries:
            st = e.stat()
            files.append(e.path)
            names.append(sub.name)
            stamp.append((sub.name, e.name, st.st_size, st.st_mtime_ns))
    return files, names, stamp


def _decode_folder(
    files: list[str], size: int, jobs: int, desc: str
) -> tuple[np.ndarray | None, np.ndarray]:
    """Decode with threads; return images and a mask of the files that decoded."""
    from joblib import Parallel, delayed
    from tqdm import tqdm

    chunk = 256
    chunks = [files[i : i + chunk] for i in range(0, len(files), chunk)]
    results: list[np.ndarray | str] = []
    parallel = Parallel(n_jobs=max(1, jobs), prefer="threads", return_as="generator")
    with tqdm(total=len(files), desc=desc, unit=" img", disable=None) as bar:
        for part in parallel(delayed(_decode)(c, size) for c in chunks):
            results.extend(part)
            bar.update(len(part))
    ok = np.array([not isinstance(r, str) for r in results], dtype=bool)
    bad = [r for r in results if isinstance(r, str)]
    if bad:
        warnings.warn(
            f"skipped {len(bad)} unreadable image(s), e.g. {'; '.join(bad[:3])}", stacklevel=3
        )
    images = np.stack([r for r in results if not isinstance(r, str)]) if ok.any() else None
    return images, ok


def read_image_folder(
    folder: str | os.PathLike,
    config: FaceDataConfig | None = None,
    classes: Sequence[str] | None = None,
) -> FaceDataset:
    """A folder holding one subfolder of images per class, as a :class:`FaceDataset`.

    Parameters
    ----------
    folder : path-like
        E.g. ``fer2013/val`` with ``angry/``, ``disgust/``, ... inside.
    config : FaceDataConfig, optional
        Image size, cache location, decoding threads.
    classes : sequence of str, optional
        The class list to index labels by (a trained model's classes). Default:
        :func:`class_order` of the subfolder names. Folder names are matched
        case-insensitively; a folder that is not one of ``classes`` is an error.

    Returns
    -------
    dataset : FaceDataset
    """
    config = config or FaceDataConfig()
    folder = Path(folder)
    if not folder.is_dir():
        raise EegemoError(f"{folder}: image folder not found")
    files, names, stamp = _list_class_images(folder)
    if not files:
        raise EegemoError(
            f"{folder}: no images ({', '.join(sorted(IMAGE_SUFFIXES))}) in its class subfolders"
        )
    classes = list(classes) if classes is not None else class_order(sorted(set(names)))
    index = {c.lower(): i for i, c in enumerate(classes)}
    unknown = sorted({n for n in names if n.lower() not in index})
    if unknown:
        raise EegemoError(
            f"{folder}: class folder(s) {', '.join(unknown)} not among the classes "
            f"{', '.join(classes)}"
        )
    size = config.img_size

    def build() -> dict[str, np.ndarray]:
        images, ok = _decode_folder(files, size, config.decode_jobs, f"decoding {folder.name}")
        if images is None:
            raise EegemoError(f"{folder}: none of the {len(files)} image files could be read")
        return {"images": images, "names": np.array(names)[ok], "files": np.array(files)[ok]}

    arrays = _cached(
        _cache_dir(config), folder, {"kind": "folder", "files": stamp, "img_size": size}, build
    )
    labels = np.array([index[n.lower()] for n in arrays["names"]], dtype=np.int64)
    return FaceDataset(arrays["images"], labels, classes, source=str(folder))


def _cache_dir(config: FaceDataConfig) -> Path | None:
    return Path(config.cache_dir).expanduser() if config.cache_dir else None


# ---------------------------------------------------------------- entry points


def load_fer_splits(
    path: str | os.PathLike, config: FaceDataConfig | None = None
) -> tuple[FaceDataset, FaceDataset, list[str]]:
    """Training and validation sets of FER2013 (or any face data in the same layouts).

    Parameters
    ----------
    path : path-like
        A Kaggle-style CSV, or a folder with ``train/`` and ``val/`` subfolders of
        class folders.
    config : FaceDataConfig, optional
        ``train_split`` and ``val_split`` choose the CSV usages or subfolders (the
        default ``val`` is PublicTest, used for model selection only).

    Returns
    -------
    train, val : FaceDataset
    classes : list of str
        Class names in label order (the same for both layouts).
    """
    config = config or FaceDataConfig()
    path = Path(path)
    if path.is_file():
        train = read_fer_csv(path, config.train_split, config)
        val = read_fer_csv(path, config.val_split, config)
        return train, val, list(FER_CLASSES)
    for split in (config.train_split, config.val_split):
        if not (path / split).is_dir():
            present = sorted(p.name for p in path.iterdir() if p.is_dir()) if path.is_dir() else []
            raise EegemoError(
                f"{path}: expected a {split}/ folder of class folders "
                f"(found: {', '.join(present) or 'nothing'}); "
                "point --data at a FER2013 CSV or a folder with train/ and val/"
            )
    splits = (config.train_split, config.val_split)
    names = {p.name for s in splits for p in _class_folders(path / s)}
    classes = class_order(sorted(names))
    train = read_image_folder(path / config.train_split, config, classes)
    val = read_image_folder(path / config.val_split, config, classes)
    return train, val, classes


def load_fer_eval(
    path: str | os.PathLike,
    split: str | None = None,
    classes: Sequence[str] | None = None,
    config: FaceDataConfig | None = None,
) -> FaceDataset:
    """A face data set to evaluate a trained model on.

    Parameters
    ----------
    path : path-like
        A folder whose subfolders are the classes (``fer2013/val``), a FER root
        with ``train/``/``val/``/``test/`` (then ``split`` picks one), or a Kaggle
        CSV (then ``split`` picks the usage).
    split : str, optional
        ``train``, ``val``, ``test`` or a CSV usage name. Default for a CSV or a
        root folder: ``test`` (PrivateTest).
    classes : sequence of str, optional
        The model's classes, so labels index the model's outputs. Default FER2013.
    config : FaceDataConfig, optional
        Image size and cache location.

    Returns
    -------
    dataset : FaceDataset
    """
    config = config or FaceDataConfig()
    path = Path(path)
    classes = list(classes) if classes is not None else list(FER_CLASSES)
    if path.is_file():
        if path.suffix.lower() != ".csv":
            raise EegemoError(f"{path}: expected a FER2013 .csv file or a folder of class folders")
        if sorted(c.lower() for c in classes) != sorted(FER_CLASSES):
            raise EegemoError(
                f"{path}: the CSV holds the 7 FER2013 classes but the model has "
                f"{', '.join(classes)}"
            )
        ds = read_fer_csv(path, split or "test", config)
        order = [classes.index(c) for c in FER_CLASSES]
        if order != list(range(len(FER_CLASSES))):
            ds.targets = ds.targets.new_tensor(order)[ds.targets]
            ds.classes = classes
        return ds
    if not path.is_dir():
        raise EegemoError(
            f"{path}: not found (expected a FER2013 CSV or a folder of class folders)"
        )
    split_dirs = [s for s in CSV_USAGES if (path / s).is_dir()]
    folder_of_usage = {usage: name for name, usage in CSV_USAGES.items()}
    split = folder_of_usage.get(split, split) if split is not None else None
    if split_dirs and split is None:
        split = "test" if "test" in split_dirs else None
        if split is None:
            raise EegemoError(
                f"{path}: holds the splits {', '.join(split_dirs)}; choose one with --split"
            )
    if split is not None and split_dirs:
        if split not in split_dirs:
            raise EegemoError(
                f"{path}: no {split}/ folder (available splits: {', '.join(split_dirs)})"
            )
        path = path / split
    return read_image_folder(path, config, classes)
