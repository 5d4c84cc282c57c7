"""TopomapRasterizer against mne.viz.plot_topomap itself, on real montages and data."""

from __future__ import annotations

import warnings

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")

mne = pytest.importorskip("mne")

from eegemo.eeg.topomap import TopomapRasterizer  # noqa: E402
from eegemo.errors import EegemoError  # noqa: E402

RES = 40
EEGMAT_19 = "Fp1 Fp2 F7 F3 Fz F4 F8 T7 C3 Cz C4 T8 P7 P3 Pz P4 P8 O1 O2".split()
EMOTIV_14 = "AF3 F7 F3 FC5 T7 P7 O1 O2 P8 T8 FC6 F4 F8 AF4".split()
# The 64 sites of a common 10-10 cap (actiCAP 64 with Cz), positions from the 10-05 template.
CAP_64 = (
    "Fp1 Fp2 AF7 AF3 AFz AF4 AF8 F7 F5 F3 F1 Fz F2 F4 F6 F8 FT9 FT7 FC5 FC3 FC1 FC2 FC4 "
    "FC6 FT8 FT10 T7 C5 C3 C1 Cz C2 C4 C6 T8 TP9 TP7 CP5 CP3 CP1 CPz CP2 CP4 CP6 TP8 TP10 "
    "P7 P5 P3 P1 Pz P2 P4 P6 P8 PO7 PO3 POz PO4 PO8 O1 Oz O2 Iz"
).split()
MONTAGES = {"eegmat19": EEGMAT_19, "emotiv14": EMOTIV_14, "cap64": CAP_64}
EEGMAT_LEGACY = {"T3": "T7", "T4": "T8", "T5": "P7", "T6": "P8"}


def _template() -> str:
    # MNE 1.13 renamed "standard_1005" to "colin27_1005" (same positions).
    names = mne.channels.get_builtin_montages()
    return "colin27_1005" if "colin27_1005" in names else "standard_1005"


def make_info(names: list[str]) -> mne.Info:
    """EEG info with template 10-05 positions."""
    info = mne.create_info(names, 250.0, "eeg")
    info.set_montage(_template())
    return info


def mne_image(values, info, **kwargs) -> np.ma.MaskedArray:
    """The array behind the image mne.viz.plot_topomap shows.

    Contour lines and sensor markers are switched off (they do not change the image) and
    one figure is reused, to keep the tests fast.
    """
    import matplotlib.pyplot as plt

    fig = plt.figure(num="test_topomap", clear=True)
    ax = fig.add_subplot()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        im, _ = mne.viz.plot_topomap(
            values, info, axes=ax, show=False, contours=0, sensors=False, **kwargs
        )
    return np.ma.masked_invalid(im.get_array())


def relative_error(ours: np.ndarray, ref: np.ma.MaskedArray, mask: np.ndarray) -> float:
    """Max abs difference inside the head over max abs of MNE's image inside the head."""
    ref_in = ref.filled(np.nan)[mask]
    assert np.isfinite(ref_in).all(), "MNE's image is undefined where ours is defined"
    return float(np.max(np.abs(ours[mask] - ref_in)) / np.max(np.abs(ref_in)))


@pytest.fixture(scope="module", autouse=True)
def _one_blas_thread_and_close_figures():
    """One BLAS thread: idle OpenBLAS threads spinning on a busy 2-core CI machine made
    this file ten times slower. Figures are closed at the end."""
    import matplotlib.pyplot as plt
    import scipy.interpolate  # noqa: F401  (load scipy's own BLAS before limiting it)
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        yield
    plt.close("all")


@pytest.fixture(scope="module")
def infos() -> dict[str, mne.Info]:
    infos = {name: make_info(names) for name, names in MONTAGES.items()}
    assert len(infos["cap64"].ch_names) == 64
    return infos


def _data(n: int, unit: str, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if unit == "dB":
        return rng.uniform(-20.0, 10.0, n)
    if unit == "uV2":
        return rng.uniform(1.0, 100.0, n)
    return rng.uniform(1e-12, 1e-10, n)  # V**2


@pytest.mark.parametrize("montage", list(MONTAGES))
@pytest.mark.parametrize(("image_interp", "tol"), [("linear", 1e-6), ("cubic", 1e-3)])
@pytest.mark.parametrize("extrapolate", ["head", "box", "local"])
def test_equals_plot_topomap(infos, montage, image_interp, tol, extrapolate):
    info = infos[montage]
    raster = TopomapRasterizer(info, res=RES, extrapolate=extrapolate, image_interp=image_interp)
    for seed, unit in enumerate(["dB", "uV2"]):
        values = _data(len(info.ch_names), unit, seed)
        ref = mne_image(values, info, res=RES, extrapolate=extrapolate, image_interp=image_interp)
        ours = raster.transform(values)
        assert ours.shape == (RES, RES) and ours.dtype == np.float32
        assert relative_error(ours, ref, raster.mask) <= tol, (unit, montage)
        # NaN exactly outside the head; inside, MNE's array is defined everywhere.
        assert np.isnan(ours[~raster.mask]).all()
        assert np.isfinite(ours[raster.mask]).all()


def test_mask_is_mne_clip_circle(infos):
    """Inside the head = grid points in the circle MNE clips the image to."""
    info = infos["eegmat19"]
    raster = TopomapRasterizer(info, res=RES)
    xmin, xmax, ymin, ymax = raster.extent
    x, y = np.meshgrid(np.linspace(xmin, xmax, RES), np.linspace(ymin, ymax, RES))
    # clip radius: head radius, widened when a channel lies outside it (MNE's mask_scale)
    radius = max(raster.sphere[3], 1.01 * np.linalg.norm(raster.pos, axis=1).max())
    np.testing.assert_array_equal(raster.mask, x**2 + y**2 <= radius**2)
    # MNE's array is defined on the whole square for "head"; the clip path hides the rest.
    ref = mne_image(np.arange(19.0), info, res=RES)
    assert not np.ma.getmaskarray(ref).any()


@pytest.mark.parametrize("image_interp", ["linear", "cubic"])
@pytest.mark.parametrize("sphere", [0.09, (0.0, 0.015, 0.01, 0.088), "eeglab", "auto"], ids=str)
def test_sphere_options(infos, image_interp, sphere):
    info = infos["cap64"].copy()
    if sphere == "auto":  # fit a sphere to head-shape points, as MNE does
        montage = info.get_montage()
        pos = montage.get_positions()
        hsp = np.array(list(pos["ch_pos"].values())) * 1.05 + [0.0, 0.004, 0.0]
        info.set_montage(
            mne.channels.make_dig_montage(
                ch_pos=pos["ch_pos"],
                nasion=pos["nasion"],
                lpa=pos["lpa"],
                rpa=pos["rpa"],
                hsp=hsp,
                coord_frame="head",
            )
        )
    raster = TopomapRasterizer(info, res=RES, sphere=sphere, image_interp=image_interp)
    values = _data(64, "dB", 3)
    ref = mne_image(values, info, res=RES, sphere=sphere, image_interp=image_interp)
    assert relative_error(raster.transform(values), ref, raster.mask) <= 1e-6


def test_default_sphere_is_mne_head_size(infos):
    raster = TopomapRasterizer(infos["eegmat19"], res=16)
    np.testing.assert_array_equal(raster.sphere, [0.0, 0.0, 0.0, 0.095])


def test_numeric_border_is_affine(infos):
    info = infos["emotiv14"]
    raster = TopomapRasterizer(info, res=RES, border=0.5, image_interp="linear")
    values = _data(14, "dB", 4)
    ref = mne_image(values, info, res=RES, border=0.5, image_interp="linear")
    assert relative_error(raster.transform(values), ref, raster.mask) <= 1e-6
    flat = raster.matrix @ values + raster.offset
    np.testing.assert_allclose(flat.reshape(RES, RES), raster.transform(values), rtol=1e-6)


@pytest.mark.parametrize("image_interp", ["linear", "cubic"])
def test_exactly_scale_equivariant(infos, image_interp):
    raster = TopomapRasterizer(infos["eegmat19"], res=RES, image_interp=image_interp)
    values = _data(19, "uV2", 5)
    inside = raster.mask
    big, small = raster.transform(values), raster.transform(values * 1e-12)
    np.testing.assert_allclose(small[inside], 1e-12 * big[inside], rtol=1e-6, atol=0)


def test_volts_squared_cubic_matches_mne_on_scaled_data(infos):
    """For V**2 values ours equals MNE's answer for the same map in µV**2, rescaled."""
    info = infos["eegmat19"]
    raster = TopomapRasterizer(info, res=RES)
    volts2 = _data(19, "V2", 6)
    ref = mne_image(volts2 * 1e12, info, res=RES)
    assert relative_error(raster.transform(volts2) * 1e12, ref, raster.mask) <= 1e-3


def test_mne_cubic_is_not_scale_equivariant(infos):
    """Documents why the matrix is built from converged gradients, not copied from MNE.

    scipy's Clough-Tocher gradient iteration stops when updates fall below 1e-6 in
    absolute terms for gradients below 1, so on V**2 values (gradients ~1e-9 per metre)
    it stops after one sweep. The computation is deterministic, so this is not flaky.
    """
    info = infos["eegmat19"]
    volts2 = _data(19, "V2", 6)
    in_v2 = mne_image(volts2, info, res=RES).filled(np.nan)
    in_uv2 = mne_image(volts2 * 1e12, info, res=RES).filled(np.nan)
    mask = TopomapRasterizer(info, res=RES).mask
    assert relative_error(in_v2 * 1e12, np.ma.masked_invalid(in_uv2), mask) > 1e-2


def test_nearest_copies_the_closest_channel(infos):
    from scipy.spatial import cKDTree

    raster = TopomapRasterizer(infos["emotiv14"], res=RES, image_interp="nearest")
    xmin, xmax, ymin, ymax = raster.extent
    x, y = np.meshgrid(np.linspace(xmin, xmax, RES), np.linspace(ymin, ymax, RES))
    nearest = cKDTree(raster.pos).query(np.column_stack([x.ravel(), y.ravel()]))[1]
    values = np.arange(14.0)
    expected = values[nearest.reshape(RES, RES)]
    image = raster.transform(values)
    np.testing.assert_array_equal(image[raster.mask], expected[raster.mask])


def test_batched_shapes_and_matrix(infos):
    raster = TopomapRasterizer(infos["eegmat19"], res=24)
    values = _data(3 * 5 * 19, "dB", 7).reshape(3, 5, 19)
    images = raster.transform(values)
    assert images.shape == (3, 5, 24, 24) and images.dtype == np.float32
    np.testing.assert_allclose(images[2, 4], raster.transform(values[2, 4]))
    flat = raster.matrix @ values[1, 3]
    np.testing.assert_allclose(images[1, 3].ravel(), flat, rtol=1e-6, atol=1e-6)
    assert np.isnan(flat[~raster.mask.ravel()]).all()


def test_key_identifies_montage_and_options(infos):
    a = TopomapRasterizer(infos["eegmat19"], res=24)
    assert TopomapRasterizer(make_info(EEGMAT_19), res=24).key == a.key
    assert TopomapRasterizer(infos["eegmat19"], res=32).key != a.key
    assert TopomapRasterizer(infos["eegmat19"], res=24, image_interp="linear").key != a.key
    assert TopomapRasterizer(infos["emotiv14"], res=24).key != a.key


def test_picks_channels_of_the_type(infos):
    info = mne.create_info([*EEGMAT_19, "HEOG"], 250.0, ["eeg"] * 19 + ["eog"])
    info.set_montage(_template(), on_missing="ignore")
    raster = TopomapRasterizer(info, res=16)
    assert raster.ch_names == EEGMAT_19


def test_real_band_power_eegmat(eegmat_dir):
    """Welch band power of a real eegmat recording, in dB and µV**2, equals MNE's maps."""
    raw = mne.io.read_raw_edf(eegmat_dir / "Subject00_1.edf", preload=True, verbose="error")
    raw.crop(0, 20).pick(
        [
            f"EEG {n}"
            for n in [
                "Fp1",
                "Fp2",
                "F7",
                "F3",
                "Fz",
                "F4",
                "F8",
                "T3",
                "C3",
                "Cz",
                "C4",
                "T4",
                "T5",
                "P3",
                "Pz",
                "P4",
                "T6",
                "O1",
                "O2",
            ]
        ]
    )
    raw.rename_channels(lambda n: EEGMAT_LEGACY.get(n[4:], n[4:]))
    raw.set_montage(_template())
    psd = raw.compute_psd(fmin=8.0, fmax=13.0, verbose="error")
    alpha_v2 = psd.get_data().mean(axis=1)  # V**2/Hz per channel
    raster = TopomapRasterizer(raw.info, res=RES)
    for values in (10 * np.log10(alpha_v2), alpha_v2 * 1e12):
        ref = mne_image(values, raw.info, res=RES)
        assert relative_error(raster.transform(values), ref, raster.mask) <= 1e-3


def test_missing_positions_named(infos):
    info = mne.create_info(["Fp1", "Xx1", "Cz"], 250.0, "eeg")
    info.set_montage(_template(), on_missing="ignore")
    with pytest.raises(EegemoError, match="Xx1"):
        TopomapRasterizer(info)


def test_colinear_channels_with_box_rejected():
    with pytest.raises(EegemoError, match="span no area"):
        TopomapRasterizer(make_info(["Fpz", "Fz", "Cz", "Pz", "Oz"]), res=16, extrapolate="box")
    # MNE's default extrapolation works for them (and matches MNE)
    info = make_info(["Fpz", "Fz", "Cz", "Pz", "Oz"])
    raster = TopomapRasterizer(info, res=RES, image_interp="linear")
    values = np.array([1.0, 2.0, 4.0, 3.0, 0.5])
    ref = mne_image(values, info, res=RES, image_interp="linear")
    assert relative_error(raster.transform(values), ref, raster.mask) <= 1e-6


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"res": 1}, "res"),
        ({"image_interp": "spline"}, "image_interp"),
        ({"extrapolate": "far"}, "extrapolate"),
        ({"border": "median"}, "border"),
        ({"ch_type": "grad"}, "ch_type"),
    ],
)
def test_bad_options(infos, kwargs, match):
    with pytest.raises(EegemoError, match=match):
        TopomapRasterizer(infos["emotiv14"], **kwargs)


def test_bad_values_shape(infos):
    raster = TopomapRasterizer(infos["emotiv14"], res=16)
    with pytest.raises(EegemoError, match=r"\(\.\.\., 14\).*\(3, 13\)"):
        raster.transform(np.zeros((3, 13)))
