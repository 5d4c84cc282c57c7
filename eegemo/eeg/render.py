"""Topomap images to PNG without matplotlib figures.

The colour map is a matplotlib colormap looked up directly (no figure, no axes); the
head outline (circle, nose and ears drawn like MNE's) and the sensor dots are drawn with
Pillow straight into the pixel buffer. This is what makes PNG output fast enough for
every epoch of a study (see ``benchmarks/topomap_speed.py``).

Images follow :mod:`eegemo.eeg.topomap`'s orientation (row 0 at the back of the head);
the rendered pictures have the nose at the top.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, BinaryIO

import numpy as np

from ..atomic import atomic_path
from ..errors import EegemoError

if TYPE_CHECKING:
    from .topomap import TopomapRasterizer

Color = tuple[int, int, int] | tuple[int, int, int, int]

# MNE's nose and ear outlines (mne.viz.topomap._make_head_outlines), in head radii
# relative to the sphere centre.
_NOSE_DX = np.exp(np.arccos(np.deg2rad(12)) * 1j)
_NOSE = np.array([[-_NOSE_DX.real, _NOSE_DX.imag], [0.0, 1.15], [_NOSE_DX.real, _NOSE_DX.imag]])
_EAR = 2 * np.array(
    [
        [0.497, 0.0555],
        [0.510, 0.0775],
        [0.518, 0.0783],
        [0.5299, 0.0746],
        [0.5419, 0.0555],
        [0.54, -0.0055],
        [0.547, -0.0932],
        [0.532, -0.1313],
        [0.510, -0.1384],
        [0.489, -0.1199],
    ]
)
_OUTLINE_REACH = 1.2  # head radii the outline needs around the centre (nose tip: 1.15)


def _check_image(image: Any, ndim: int, what: str) -> np.ndarray:
    image = np.asarray(image, dtype=np.float64)
    if image.ndim != ndim or min(image.shape[-2:]) < 2:
        expected = "(H, W)" if ndim == 2 else "(n_bands, H, W)"
        raise EegemoError(f"{what} must have shape {expected}; got shape {image.shape}")
    return image


def color_limits(image: np.ndarray) -> tuple[float, float]:
    """Default colour range, MNE's rule applied to the image.

    Parameters
    ----------
    image : ndarray
        Values; NaN ignored.

    Returns
    -------
    vmin, vmax : float
        ``(0, max)`` when no value is negative, else ``(-m, m)`` with ``m`` the largest
        absolute value. ``(0, 1)`` when nothing is finite or everything is zero.
    """
    finite = image[np.isfinite(image)]
    if finite.size == 0:
        return 0.0, 1.0
    peak = float(np.max(np.abs(finite)))
    if peak == 0:
        return 0.0, 1.0
    return (0.0, peak) if finite.min() >= 0 else (-peak, peak)


class _Canvas:
    """Maps topomap-plane coordinates (metres) to pixels of the rendered picture."""

    def __init__(self, shape: tuple[int, int], scale: int, geometry: TopomapRasterizer | None):
        height, width = shape
        if geometry is None:  # the image spans the head circle, centred on the origin
            self.extent = (-1.0, 1.0, -1.0, 1.0)
            self.head = (0.0, 0.0, 1.0)
        else:
            self.extent = geometry.extent
            self.head = tuple(float(v) for v in geometry.sphere[[0, 1, 3]])
        xmin, xmax, ymin, ymax = self.extent
        # pixel j of the image is centred on sample j of the grid
        self.ppm_x = (width - 1) * scale / (xmax - xmin) if width > 1 else scale
        self.ppm_y = (height - 1) * scale / (ymax - ymin) if height > 1 else scale
        half_x, half_y = 0.5 * scale / self.ppm_x, 0.5 * scale / self.ppm_y
        x0, y0, radius = self.head
        reach = _OUTLINE_REACH * radius
        self.left = min(xmin - half_x, x0 - reach)
        self.top = max(ymax + half_y, y0 + reach)
        right = max(xmax + half_x, x0 + reach)
        bottom = min(ymin - half_y, y0 - reach)
        self.size = (
            int(np.ceil((right - self.left) * self.ppm_x)),
            int(np.ceil((self.top - bottom) * self.ppm_y)),
        )
        self.image_origin = (
            round((xmin - half_x - self.left) * self.ppm_x),
            round((self.top - ymax - half_y) * self.ppm_y),
        )

    def to_pixels(self, xy: np.ndarray) -> np.ndarray:
        xy = np.asarray(xy, dtype=float)
        return np.column_stack(
            [(xy[:, 0] - self.left) * self.ppm_x, (self.top - xy[:, 1]) * self.ppm_y]
        )

    def pixel_centres(self) -> np.ndarray:
        cols, rows = np.meshgrid(np.arange(self.size[0]) + 0.5, np.arange(self.size[1]) + 0.5)
        return np.column_stack(
            [self.left + cols.ravel() / self.ppm_x, self.top - rows.ravel() / self.ppm_y]
        )


# Palette of the rendered pictures: colormap levels, then "outside the head", then ink.
_LEVELS = 254
_OUTSIDE = 254
_INK = 255


@dataclasses.dataclass
class _Layout:
    """What every picture of one montage shares."""

    canvas: _Canvas
    inside: np.ndarray | None  # bool (height, width) head-shaped clip, or None: from NaNs
    ink: np.ndarray | None  # bool (height, width): outline and sensor pixels
    fill_from: tuple | None  # nearest-finite-pixel indices for the image's NaN pixels


_LAYOUTS: dict[tuple, _Layout] = {}
_MAX_LAYOUTS = 32


def _layout(
    shape: tuple[int, int],
    scale: int,
    geometry: TopomapRasterizer | None,
    outline: bool,
    sensors: np.ndarray | bool | None,
) -> _Layout:
    """Build (or reuse) the clip, the outline/sensor pixels and the NaN filling."""
    from PIL import Image, ImageDraw

    if sensors is None or sensors is True:
        sensors = geometry.pos if geometry is not None else None
    elif sensors is not False:
        sensors = np.asarray(sensors, dtype=float).reshape(-1, 2)
    has_sensors = sensors is not None and sensors is not False
    key = (
        shape,
        scale,
        geometry.key if geometry is not None else None,
        outline,
        sensors.tobytes() if has_sensors else None,
    )
    if key in _LAYOUTS:
        return _LAYOUTS[key]

    canvas = _Canvas(shape, scale, geometry)
    inside = fill_from = None
    if geometry is not None:
        inside = geometry.contains(canvas.pixel_centres()).reshape(canvas.size[::-1])
        fill_from = _nearest_indices(geometry.mask)
    ink = None
    if outline or has_sensors:
        layer = Image.new("L", canvas.size, 0)
        draw = ImageDraw.Draw(layer)
        x0, y0, radius = canvas.head
        if outline:
            angles = np.linspace(0, 2 * np.pi, 101)
            head = np.column_stack([np.cos(angles), np.sin(angles)])
            for part in (head, _NOSE, _EAR, _EAR * [-1, 1]):
                points = canvas.to_pixels(part * radius + [x0, y0])
                draw.line([tuple(p) for p in points], fill=255, width=max(1, scale // 2))
        if has_sensors:
            dot = max(1.0, 0.4 * scale)
            for px, py in np.round(canvas.to_pixels(sensors)):  # same size for every dot
                draw.ellipse([px - dot, py - dot, px + dot, py + dot], fill=255)
        ink = np.asarray(layer) > 127
    if len(_LAYOUTS) >= _MAX_LAYOUTS:
        _LAYOUTS.clear()
    _LAYOUTS[key] = _Layout(canvas, inside, ink, fill_from)
    return _LAYOUTS[key]


def _nearest_indices(finite: np.ndarray) -> tuple | None:
    """Index arrays giving every pixel its nearest finite pixel (None if all finite)."""
    from scipy.ndimage import distance_transform_edt

    if finite.all() or not finite.any():
        return None
    return tuple(distance_transform_edt(~finite, return_distances=False, return_indices=True))


def _palette(cmap: str, background: Color | None) -> np.ndarray:
    """(256, 4) uint8 RGBA: colormap levels, the outside colour, black ink."""
    import matplotlib

    try:
        colormap = matplotlib.colormaps[cmap]
    except KeyError as err:
        raise EegemoError(f"unknown matplotlib colormap {cmap!r}") from err
    palette = np.zeros((256, 4), np.uint8)
    palette[:_LEVELS] = colormap(np.linspace(0.0, 1.0, _LEVELS), bytes=True)
    if background is not None:
        palette[_OUTSIDE] = (*background[:3], 255)
    palette[_INK] = (0, 0, 0, 255)
    return palette


def _render_indexed(
    image: Any,
    vmin: float | None,
    vmax: float | None,
    outline: bool,
    sensors: np.ndarray | bool | None,
    scale: int,
    geometry: TopomapRasterizer | None,
) -> np.ndarray:
    """The picture as palette indices (see :func:`_palette`), nose up."""
    from PIL import Image

    image = _check_image(image, 2, "a topomap image")
    if not isinstance(scale, int | np.integer) or isinstance(scale, bool) or scale < 1:
        raise EegemoError(f"scale must be a positive integer, got {scale!r}")
    if geometry is not None and image.shape != (geometry.res, geometry.res):
        raise EegemoError(
            f"image shape {image.shape} does not match the rasterizer's {geometry.res}x"
            f"{geometry.res} grid"
        )
    default_min, default_max = color_limits(image)
    vmin = default_min if vmin is None else float(vmin)
    vmax = default_max if vmax is None else float(vmax)
    if not vmax > vmin:
        raise EegemoError(f"vmax must be greater than vmin; got vmin={vmin}, vmax={vmax}")

    layout = _layout(image.shape, scale, geometry, outline, sensors)
    finite = np.isfinite(image)
    if not finite.any():
        filled = np.full(image.shape, vmin, np.float32)
    elif finite.all():
        filled = image.astype(np.float32)
    else:  # NaN pixels take the nearest value, so bilinear scaling shows no fringe
        fill_from = layout.fill_from if geometry is not None else _nearest_indices(finite)
        filled = image[fill_from].astype(np.float32)
    # bilinear upsampling of the values, as MNE's imshow(interpolation="bilinear")
    tile = Image.fromarray(np.ascontiguousarray(filled[::-1]), "F")
    if scale > 1:
        tile = tile.resize((image.shape[1] * scale, image.shape[0] * scale), Image.BILINEAR)
    level = (np.asarray(tile) - vmin) * ((_LEVELS - 1) / (vmax - vmin))
    tile_idx = np.clip(np.rint(level), 0, _LEVELS - 1).astype(np.uint8)

    canvas = layout.canvas
    picture = np.full(canvas.size[::-1], _OUTSIDE, np.uint8)
    left, top = canvas.image_origin
    rows = min(tile_idx.shape[0], picture.shape[0] - top)
    cols = min(tile_idx.shape[1], picture.shape[1] - left)
    window = picture[top : top + rows, left : left + cols]
    window[...] = tile_idx[:rows, :cols]
    if layout.inside is not None:
        picture[~layout.inside] = _OUTSIDE
    else:
        shown = np.repeat(np.repeat(finite[::-1], scale, axis=0), scale, axis=1)
        window[~shown[:rows, :cols]] = _OUTSIDE
    if layout.ink is not None:
        picture[layout.ink] = _INK
    return picture


def render_topomap(
    image: Any,
    vmin: float | None = None,
    vmax: float | None = None,
    cmap: str = "RdBu_r",
    outline: bool = True,
    sensors: np.ndarray | bool | None = None,
    scale: int = 4,
    *,
    geometry: TopomapRasterizer | None = None,
    background: Color | None = None,
) -> np.ndarray:
    """Colour one topomap image and draw the head outline and sensors on it.

    Parameters
    ----------
    image : array-like, shape (H, W)
        One topomap from :meth:`TopomapRasterizer.transform`, NaN outside the head.
    vmin, vmax : float | None
        Colour range; ``None`` takes :func:`color_limits` of the image. Values are
        mapped to 254 evenly spaced colours of the colormap, ``vmin`` to its first and
        ``vmax`` to its last colour.
    cmap : str
        Name of a matplotlib colormap.
    outline : bool
        Draw MNE's head outline (circle, nose, ears).
    sensors : ndarray, shape (n, 2) | bool | None
        Sensor positions on the topomap plane (metres) to draw as dots; ``True`` or
        ``None`` draws ``geometry.pos`` when ``geometry`` is given, ``False`` none.
    scale : int
        Output pixels per image pixel (bilinear upsampling of the values, as MNE
        displays them).
    geometry : TopomapRasterizer | None
        The rasterizer that made ``image``: places head, sensors and the head-shaped
        clip exactly. Without it the image is taken to span the head circle and pixels
        are shown where the image is finite.
    background : tuple of int | None
        RGB colour outside the head; ``None`` is transparent.

    Returns
    -------
    rgba : ndarray of uint8, shape (height, width, 4)
        The picture, nose up, with margins that fit the nose and ears.
    """
    palette = _palette(cmap, background)
    return palette[_render_indexed(image, vmin, vmax, outline, sensors, scale, geometry)]


def save_topomap_png(
    path: str | os.PathLike | BinaryIO,
    image: Any,
    vmin: float | None = None,
    vmax: float | None = None,
    cmap: str = "RdBu_r",
    outline: bool = True,
    sensors: np.ndarray | bool | None = None,
    scale: int = 4,
    *,
    geometry: TopomapRasterizer | None = None,
    background: Color | None = None,
    compress_level: int = 1,
) -> None:
    """Render one topomap like :func:`render_topomap` and write it as PNG.

    The PNG is palette-based (254 colormap colours, transparent outside the head
    unless ``background`` is given, black ink): small and fast to encode.

    Parameters
    ----------
    path : path-like or binary file object
        Destination ``.png`` file, written under a temporary name and renamed into
        place; or an open binary file (e.g. :class:`io.BytesIO`) to write to.
    image : array-like, shape (H, W)
        The topomap.
    vmin, vmax, cmap, outline, sensors, scale, geometry, background
        As in :func:`render_topomap`.
    compress_level : int
        zlib level 0-9 (1: fast, about 15 kB for a 64x64 map at ``scale=4``).
    """
    from PIL import Image

    indices = _render_indexed(image, vmin, vmax, outline, sensors, scale, geometry)
    palette = _palette(cmap, background)
    picture = Image.fromarray(indices, "P")
    picture.putpalette(palette[:, :3].tobytes())
    options = {"compress_level": compress_level}
    if background is None:
        options["transparency"] = _OUTSIDE
    if hasattr(path, "write"):
        picture.save(path, format="PNG", **options)
        return
    with atomic_path(path) as tmp:
        picture.save(tmp, format="PNG", **options)


def _font(size: int) -> Any:
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1: fixed-size bitmap font
        return ImageFont.load_default()


def render_band_panel(
    images: Any,
    band_names: Sequence[str],
    *,
    vmin: float | None = None,
    vmax: float | None = None,
    title: str | None = None,
    background: Color = (255, 255, 255),
    **kwargs: Any,
) -> np.ndarray:
    """Render the topomaps of all bands of one epoch side by side, each labelled.

    Parameters
    ----------
    images : array-like, shape (n_bands, H, W)
        One image per band.
    band_names : sequence of str
        Label per band, e.g. ``["delta", "theta", "alpha", "beta", "gamma"]``.
    vmin, vmax : float | None
        One colour range for every band; ``None`` scales each band on its own (the
        range is printed under its name).
    title : str | None
        Line printed above the panel.
    background : tuple of int
        Opaque panel colour (also outside the heads).
    **kwargs
        Passed to :func:`render_topomap` (``cmap``, ``outline``, ``sensors``, ``scale``,
        ``geometry``).

    Returns
    -------
    rgba : ndarray of uint8, shape (height, width, 4)
    """
    from PIL import Image, ImageDraw

    images = _check_image(images, 3, "band images")
    band_names = [str(name) for name in band_names]
    if len(band_names) != len(images):
        raise EegemoError(f"got {len(images)} band images but {len(band_names)} band names")
    tiles = [render_topomap(img, vmin, vmax, background=background, **kwargs) for img in images]
    tile_h, tile_w = tiles[0].shape[:2]
    font_size = max(10, tile_w // 12)
    font = _font(font_size)
    label_h = 2 * font_size + 8
    title_h = font_size + 10 if title else 0
    gap = max(4, tile_w // 20)
    width = len(tiles) * tile_w + (len(tiles) + 1) * gap
    size = (width, title_h + label_h + tile_h + gap)
    panel = Image.new("RGBA", size, (*background[:3], 255))
    draw = ImageDraw.Draw(panel)

    def centred(text: str, centre: float, top: float, fill: tuple) -> None:
        draw.text((centre - draw.textlength(text, font=font) / 2, top), text, fill, font=font)

    if title:
        centred(title, width / 2, 4, (0, 0, 0, 255))
    for k, (tile, name, img) in enumerate(zip(tiles, band_names, images, strict=True)):
        left = gap + k * (tile_w + gap)
        default_lo, default_hi = color_limits(img)
        lo = default_lo if vmin is None else vmin
        hi = default_hi if vmax is None else vmax
        centred(name, left + tile_w / 2, title_h + 2, (0, 0, 0, 255))
        centred(
            f"{lo:.3g} to {hi:.3g}", left + tile_w / 2, title_h + font_size + 4, (80, 80, 80, 255)
        )
        panel.paste(Image.fromarray(tile, "RGBA"), (left, title_h + label_h))
    return np.asarray(panel)


def save_band_panel_png(
    path: str | os.PathLike,
    images: Any,
    band_names: Sequence[str],
    *,
    compress_level: int = 6,
    **kwargs: Any,
) -> None:
    """Render all bands of one epoch (see :func:`render_band_panel`) to PNG, atomically.

    Parameters
    ----------
    path : path-like
        Destination ``.png`` file; written under a temporary name and renamed.
    images : array-like, shape (n_bands, H, W)
        One image per band.
    band_names : sequence of str
        Label per band.
    compress_level : int
        zlib level 0-9.
    **kwargs
        Passed to :func:`render_band_panel`.
    """
    from PIL import Image

    panel = Image.fromarray(render_band_panel(images, band_names, **kwargs), "RGBA")
    with atomic_path(path) as tmp:
        panel.convert("RGB").save(tmp, format="PNG", compress_level=compress_level)
