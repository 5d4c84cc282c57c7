"""PNG rendering of topomaps without matplotlib figures."""

from __future__ import annotations

import io

import matplotlib
import numpy as np
import pytest
from PIL import Image

mne = pytest.importorskip("mne")

from eegemo.eeg.render import (  # noqa: E402
    color_limits,
    render_band_panel,
    render_topomap,
    save_band_panel_png,
    save_topomap_png,
)
from eegemo.eeg.topomap import TopomapRasterizer  # noqa: E402
from eegemo.errors import EegemoError  # noqa: E402

NAMES = "Fp1 Fp2 F7 F3 Fz F4 F8 T7 C3 Cz C4 T8 P7 P3 Pz P4 P8 O1 O2".split()


@pytest.fixture(scope="module")
def raster() -> TopomapRasterizer:
    info = mne.create_info(NAMES, 250.0, "eeg")
    montages = mne.channels.get_builtin_montages()
    info.set_montage("colin27_1020" if "colin27_1020" in montages else "standard_1020")
    return TopomapRasterizer(info, res=32)


@pytest.fixture(scope="module")
def front_high(raster) -> np.ndarray:
    """A map that grows from the back (negative y) to the front of the head."""
    return raster.transform(raster.pos[:, 1] * 100)


def _colour(cmap: str, x: float) -> np.ndarray:
    return np.array(matplotlib.colormaps[cmap](x, bytes=True))


def test_png_readable_shape_and_transparent_outside(tmp_path, raster, front_high):
    path = tmp_path / "map.png"
    save_topomap_png(path, front_high, geometry=raster, scale=3)
    with Image.open(path) as png:
        assert png.format == "PNG"
        rgba = np.asarray(png.convert("RGBA"))
    assert rgba.dtype == np.uint8 and rgba.ndim == 3 and rgba.shape[2] == 4
    np.testing.assert_array_equal(rgba, render_topomap(front_high, geometry=raster, scale=3))
    # image corners lie outside the head circle: transparent; the centre is opaque
    assert rgba[0, 0, 3] == 0 and rgba[-1, -1, 3] == 0
    height, width = rgba.shape[:2]
    assert rgba[height // 2, width // 2, 3] == 255
    assert [p.name for p in tmp_path.iterdir()] == ["map.png"]  # no temporary left


def test_white_background_outside_head(raster, front_high):
    rgba = render_topomap(front_high, geometry=raster, background=(255, 255, 255))
    assert (rgba[..., 3] == 255).all()
    np.testing.assert_array_equal(rgba[0, 0], [255, 255, 255, 255])


def test_nan_pixels_transparent_without_geometry():
    back_missing = np.ones((16, 16))
    back_missing[:4, :] = np.nan  # row 0 is the back of the head
    front_missing = back_missing[::-1]
    opaque_rows = []
    for image in (back_missing, front_missing):
        alpha = render_topomap(image, outline=False, sensors=False, scale=2)[..., 3]
        assert set(np.unique(alpha)) == {0, 255}
        assert (alpha == 255).sum() == 12 * 16 * 2 * 2  # finite pixels x scale**2
        opaque_rows.append(np.flatnonzero((alpha == 255).any(axis=1)))
    # drawn nose up: missing back rows are at the bottom, missing front rows at the top
    assert opaque_rows[1][0] == opaque_rows[0][0] + 4 * 2


def test_extreme_values_get_colormap_ends(raster, front_high):
    lo, hi = np.nanmin(front_high), np.nanmax(front_high)
    rgba = render_topomap(
        front_high,
        vmin=lo,
        vmax=hi,
        cmap="viridis",
        outline=False,
        sensors=False,
        scale=1,
        geometry=raster,
    )
    shown = rgba[rgba[..., 3] == 255]
    assert (shown == _colour("viridis", 0.0)).all(axis=1).any()
    assert (shown == _colour("viridis", 1.0)).all(axis=1).any()
    # beyond the range: clipped to the ends
    low = render_topomap(np.full((8, 8), -5.0), vmin=0, vmax=1, outline=False, cmap="magma")
    high = render_topomap(np.full((8, 8), 7.0), vmin=0, vmax=1, outline=False, cmap="magma")
    assert (low[low[..., 3] == 255] == _colour("magma", 0.0)).all()
    assert (high[high[..., 3] == 255] == _colour("magma", 1.0)).all()


def test_nose_up(raster, front_high):
    rgba = render_topomap(front_high, geometry=raster, cmap="Reds", outline=False, sensors=False)
    height = rgba.shape[0]
    inside = rgba[..., 3] == 255
    green = rgba[..., 1].astype(float)  # "Reds": strong values have little green
    top = green[: height // 3][inside[: height // 3]].mean()
    bottom = green[-height // 3 :][inside[-height // 3 :]].mean()
    assert top < bottom


def test_outline_and_sensors_are_drawn(raster, front_high):
    plain = render_topomap(front_high, geometry=raster, outline=False, sensors=False)
    drawn = render_topomap(front_high, geometry=raster)
    black = (drawn[..., :3] == 0).all(axis=-1) & (drawn[..., 3] == 255)
    assert black.sum() > 100
    assert not ((plain[..., :3] == 0).all(axis=-1) & (plain[..., 3] == 255)).any()
    # the nose sticks out above the head circle, where the map is transparent
    assert black[: drawn.shape[0] // 20].any()


def test_color_limits_follow_mne_rule():
    assert color_limits(np.array([[1.0, 3.0], [np.nan, 2.0]])) == (0.0, 3.0)
    assert color_limits(np.array([[-1.0, 3.0]])) == (-3.0, 3.0)
    assert color_limits(np.full((2, 2), np.nan)) == (0.0, 1.0)


def test_band_panel(tmp_path, raster):
    values = np.stack([raster.pos[:, 1], -raster.pos[:, 1], raster.pos[:, 0]]) * 100
    images = raster.transform(values)
    names = ["theta", "alpha", "beta"]
    panel = render_band_panel(images, names, geometry=raster, scale=2, title="S01 epoch 3")
    tile = render_topomap(images[0], geometry=raster, scale=2)
    assert panel.shape[1] > 3 * tile.shape[1] and panel.shape[0] > tile.shape[0]
    assert (panel[..., 3] == 255).all()
    path = tmp_path / "panel.png"
    save_band_panel_png(path, images, names, geometry=raster, scale=2, vmin=-10, vmax=10)
    with Image.open(path) as png:
        assert png.size[0] > 3 * tile.shape[1]
    with pytest.raises(EegemoError, match="3 band images but 2 band names"):
        render_band_panel(images, names[:2])


def test_in_memory_png(raster, front_high):
    buffer = io.BytesIO()
    save_topomap_png(buffer, front_high, geometry=raster)
    with Image.open(io.BytesIO(buffer.getvalue())) as png:
        assert png.format == "PNG"


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"cmap": "no-such-map"}, "colormap"),
        ({"vmin": 2.0, "vmax": 1.0}, "vmax must be greater"),
        ({"scale": 0}, "scale"),
    ],
)
def test_bad_arguments(tmp_path, front_high, kwargs, match):
    path = tmp_path / "bad.png"
    with pytest.raises(EegemoError, match=match):
        save_topomap_png(path, front_high, **kwargs)
    assert not list(tmp_path.iterdir())


def test_bad_image_shape(raster):
    with pytest.raises(EegemoError, match="shape"):
        render_topomap(np.zeros(5))
    with pytest.raises(EegemoError, match="does not match"):
        render_topomap(np.zeros((10, 10)), geometry=raster)
