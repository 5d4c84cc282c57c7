"""Topographic maps as one matrix product, identical to :func:`mne.viz.plot_topomap`.

For fixed channel positions, everything :func:`mne.viz.plot_topomap` does between the
channel values and the image array it shows is linear in the values:

* the extra points that help extrapolation get, with ``border="mean"``, the mean of their
  neighbouring channels (a fixed averaging matrix);
* ``image_interp="linear"`` is barycentric interpolation on a fixed Delaunay
  triangulation (fixed weights);
* ``image_interp="cubic"`` (Clough-Tocher) is a fixed linear combination of the values
  and of vertex gradients, and the gradients solve a fixed linear system;
* ``image_interp="nearest"`` copies the value of the closest channel.

:class:`TopomapRasterizer` therefore reproduces MNE's geometry (head sphere, projection of
the positions, head outline, extrapolation points, triangulation, grid, clip path) once
per montage, pushes the basis vectors of the channel space through the interpolator to
obtain the ``(res * res, n_channels)`` matrix, and maps any number of epochs and bands to
images with one matrix product. ``docs/topomaps.md`` explains why this is exact.

Image arrays use MNE's orientation: ``image[i, j]`` is the value at
``(x[j], y[i])`` with ``y`` increasing with ``i`` (``imshow(..., origin="lower")``), so the
nose is at the last row. Pixels outside the head are NaN.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import warnings
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import EegemoError

if TYPE_CHECKING:
    import mne

#: Channel types laid out on the scalp sphere the way MNE lays out EEG.
SUPPORTED_CH_TYPES = ("eeg", "csd", "ecog", "seeg", "dbs")
IMAGE_INTERPS = ("cubic", "linear", "nearest")
EXTRAPOLATES = ("auto", "head", "box", "local")

# Bumped whenever the matrix a rasterizer builds would change for the same inputs, so
# that cached rasterizers or images keyed by ``TopomapRasterizer.key`` are rebuilt.
_ALGORITHM_VERSION = 1
# Clough-Tocher gradients are found by Gauss-Seidel iteration; on basis vectors we run it
# to convergence (MNE stops at scipy's default tolerance of 1e-6, which is absolute for
# gradients below 1, see docs/topomaps.md).
_CUBIC_TOL = 1e-13
_CUBIC_MAXITER = 100_000
# Maps per matrix product: the float64 block (256 x res*res) stays in cache before the
# cast to float32 (about twice as fast as large blocks). float32 products would be faster
# still but err by up to 5e-7 relative, too close to the 1e-6 fidelity bound.
_CHUNK = 256


def _resolve_sphere(sphere: Any, info: mne.Info) -> np.ndarray:
    """Turn ``sphere`` into ``(x, y, z, radius)`` in metres exactly as MNE does."""
    from mne.utils import _check_sphere

    try:
        return np.asarray(_check_sphere(sphere, info), dtype=float)
    except (ValueError, RuntimeError) as err:
        raise EegemoError(f"invalid head sphere {sphere!r}: {err}") from err


def _channel_positions(info: mne.Info, picks: np.ndarray) -> np.ndarray:
    """3-D positions of the picked channels; error naming channels without a position."""
    locs = np.array([info["chs"][k]["loc"][:3] for k in picks], dtype=float)
    names = [info["ch_names"][k] for k in picks]
    unplaced = ~np.isfinite(locs).all(axis=1) | ~locs.any(axis=1)
    missing = [name for name, bad in zip(names, unplaced, strict=True) if bad]
    if missing:
        raise EegemoError(
            f"{len(missing)} of {len(names)} channels have no scalp position "
            f"({', '.join(missing[:8])}{', ...' if len(missing) > 8 else ''}); "
            "set a montage with raw.set_montage(...) or drop them"
        )
    dist = np.linalg.norm(locs[:, None] - locs[None], axis=-1)
    dist[np.diag_indices(len(locs))] = np.inf
    if len(locs) > 1 and dist.min() < 1e-10:
        i, j = np.unravel_index(np.argmin(dist), dist.shape)
        raise EegemoError(f"channels {names[i]} and {names[j]} have the same position")
    return locs


def project_positions(locs3d: np.ndarray, sphere: np.ndarray) -> np.ndarray:
    """Flatten 3-D positions onto the topomap plane as MNE does (azimuthal equidistant).

    Parameters
    ----------
    locs3d : ndarray, shape (n_channels, 3)
        Positions in head coordinates (metres).
    sphere : ndarray, shape (4,)
        Head sphere ``(x, y, z, radius)``.

    Returns
    -------
    pos : ndarray, shape (n_channels, 2)
        The distance from the sphere centre in the plane equals the polar angle from the
        vertex times the channel's distance to the centre divided by pi/2.
    """
    rel = np.asarray(locs3d, dtype=float) - sphere[:3]
    radius = np.sqrt(np.sum(rel * rel, axis=1))
    norm = np.where(radius > 0, radius, 1)
    azimuth = np.nan_to_num(np.arctan2(rel[:, 1], rel[:, 0]))
    polar = np.nan_to_num(np.arccos(rel[:, 2] / norm))
    pos = np.column_stack([polar * np.cos(azimuth), polar * np.sin(azimuth)])
    pos *= radius[:, None] / (np.pi / 2.0)
    return pos + sphere[:2]


def _extra_points(
    pos: np.ndarray, extrapolate: str, origin: np.ndarray, radii: np.ndarray
) -> tuple[np.ndarray, np.ndarray | None, Any]:
    """Extrapolation points, clip polygon (``"local"`` only) and triangulation.

    A line-by-line port of ``mne.viz.topomap._get_extra_points`` (MNE 1.13), including
    the incremental Delaunay construction, so the triangulation is the one MNE uses.
    """
    from scipy.spatial import Delaunay

    x, y = origin
    if extrapolate == "box":
        extremes = np.array([pos.min(axis=0), pos.max(axis=0)])
        diffs = extremes[1] - extremes[0]
        extremes[0] -= diffs
        extremes[1] += diffs
        eidx = np.array(list(itertools.product(*([[0] * (pos.shape[1] - 1) + [1]] * pos.shape[1]))))
        pidx = np.tile(np.arange(pos.shape[1])[np.newaxis], (len(eidx), 1))
        outer_pts = extremes[eidx, pidx]
        return outer_pts, None, Delaunay(np.concatenate((pos, outer_pts)))

    diffs = np.diff(pos, axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        slopes = diffs[:, 1] / diffs[:, 0]
    colinear = (slopes == slopes[0]).all() or np.isinf(slopes).all()

    if colinear or pos.shape[0] < 4:
        dim = 1 if diffs[:, 1].sum() > diffs[:, 0].sum() else 0
        sorting = np.argsort(pos[:, dim])
        distance = np.median(np.linalg.norm(np.diff(pos[sorting], axis=0), axis=1))
    else:
        tri = Delaunay(pos, incremental=True)
        idx1, idx2, idx3 = tri.simplices.T
        distances = np.concatenate(
            [
                np.linalg.norm(pos[i1, :] - pos[i2, :], axis=1)
                for i1, i2 in zip([idx1, idx2], [idx2, idx3], strict=True)
            ]
        )
        distance = np.median(distances)

    mask_pos = None
    if extrapolate == "local":
        if colinear or pos.shape[0] < 4:
            edge_points = sorting[[0, -1]]
            line_len = np.diff(pos[edge_points, :], axis=0)
            unit_vec = line_len / np.linalg.norm(line_len) * distance
            unit_vec_par = unit_vec[:, ::-1] * [[-1, 1]]
            edge_pos = pos[edge_points, :] + np.concatenate([-unit_vec, unit_vec], axis=0)
            new_pos = np.concatenate([pos + unit_vec_par, pos - unit_vec_par, edge_pos], axis=0)
            if pos.shape[0] == 3:
                new_pos_diff = pos[..., np.newaxis] - new_pos.T[np.newaxis, :]
                new_pos_diff = np.linalg.norm(new_pos_diff, axis=1)
                new_pos = new_pos[(new_pos_diff > 0.5 * distance).all(axis=0)]
            tri = Delaunay(np.concatenate([pos, new_pos], axis=0))
            return new_pos, new_pos, tri

        hull_pos = pos[tri.convex_hull]
        channels_center = pos.mean(axis=0)
        radial_dir = hull_pos - channels_center
        unit_radial_dir = radial_dir / np.linalg.norm(radial_dir, axis=-1, keepdims=True)
        hull_extended = hull_pos + unit_radial_dir * distance
        mask_pos = hull_pos + unit_radial_dir * distance * 0.5
        hull_diff = np.diff(hull_pos, axis=1)[:, 0]
        hull_distances = np.linalg.norm(hull_diff, axis=-1)

        mask_pos = np.unique(mask_pos.reshape(-1, 2), axis=0)
        mask_center = np.mean(mask_pos, axis=0)
        mask_pos -= mask_center
        mask_pos = mask_pos[np.argsort(np.arctan2(mask_pos[:, 1], mask_pos[:, 0]))]
        mask_pos += mask_center

        add_points = []
        eps = np.finfo("float").eps
        n_times_dist = np.round(0.25 * hull_distances / distance).astype("int")
        for n in range(2, n_times_dist.max() + 1):
            sel = n_times_dist == n
            mult = np.arange(1 / n, 1 - eps, 1 / n)[:, np.newaxis, np.newaxis]
            steps = hull_diff[sel][np.newaxis, ...] * mult
            add_points.append((hull_extended[sel, 0][np.newaxis, ...] + steps).reshape((-1, 2)))
        hull_extended = np.unique(hull_extended.reshape((-1, 2)), axis=0)
        new_pos = np.concatenate([hull_extended, *add_points])
    else:  # "head": points on a circle outside the clip circle
        angle = np.arcsin(min(distance / np.mean(radii), 1))
        n_pnts = max(12, int(np.round(2 * np.pi / angle)))
        points_l = np.linspace(0, 2 * np.pi, n_pnts, endpoint=False)
        use_radii = radii * 1.1 + distance
        new_pos = np.stack(
            [np.cos(points_l) * use_radii[0] + x, np.sin(points_l) * use_radii[1] + y], axis=1
        )
        if colinear or pos.shape[0] == 3:
            return new_pos, None, Delaunay(np.concatenate([pos, new_pos], axis=0))
    tri.add_points(new_pos)
    return new_pos, mask_pos, tri


def _border_operator(tri: Any, n_channels: int, n_extra: int) -> np.ndarray:
    """Matrix ``B`` with ``values_at_all_points = B @ channel_values`` for ``border="mean"``.

    Each extra point takes the mean of the channels it shares a triangle edge with; extra
    points with no channel neighbour take the mean of the other extra points (MNE's rule).
    """
    op = np.zeros((n_channels + n_extra, n_channels))
    op[:n_channels] = np.eye(n_channels)
    indices, indptr = tri.vertex_neighbor_vertices
    used = np.zeros(n_extra, bool)
    for k in range(n_extra):
        ngb = indptr[indices[n_channels + k] : indices[n_channels + k + 1]]
        ngb = ngb[ngb < n_channels]
        if len(ngb):
            used[k] = True
            op[n_channels + k, ngb] = 1.0 / len(ngb)
    if used.any() and not used.all():
        op[n_channels:][~used] = op[n_channels:][used].mean(axis=0)
    return op


def _interpolate_columns(
    tri: Any, values: np.ndarray, xy: np.ndarray, image_interp: str
) -> np.ndarray:
    """Interpolate every column of ``values`` (given at ``tri.points``) at ``xy``."""
    from scipy.interpolate import CloughTocher2DInterpolator, LinearNDInterpolator
    from scipy.interpolate._interpnd import GradientEstimationWarning

    if image_interp == "linear":
        return LinearNDInterpolator(tri, values)(xy)
    with warnings.catch_warnings():
        # Not converging would leave the matrix short of the exact operator: fail loudly.
        warnings.simplefilter("error", category=GradientEstimationWarning)
        interp = CloughTocher2DInterpolator(tri, values, tol=_CUBIC_TOL, maxiter=_CUBIC_MAXITER)
    return interp(xy)


def _inside_clip(
    xy: np.ndarray, clip_origin: np.ndarray, clip_radius: float, mask_pts: np.ndarray | None
) -> np.ndarray:
    """Grid points inside the clip path MNE sets on the image (circle or hull polygon)."""
    if mask_pts is not None:
        from matplotlib.path import Path

        return Path(mask_pts).contains_points(xy)
    return np.sum((xy - clip_origin) ** 2, axis=1) <= clip_radius**2


def _picks(info: mne.Info, ch_type: str) -> np.ndarray:
    types = info.get_channel_types()
    picks = np.array([k for k, t in enumerate(types) if t == ch_type], dtype=int)
    if len(picks) == 0:
        raise EegemoError(
            f"no channels of type {ch_type!r} in the recording (types present: "
            f"{', '.join(sorted(set(types))) or 'none'})"
        )
    return picks


def _check_options(
    res: int, extrapolate: str, border: Any, image_interp: str, ch_type: str
) -> None:
    if not isinstance(res, int | np.integer) or isinstance(res, bool) or res < 2:
        raise EegemoError(f"res must be an integer >= 2, got {res!r}")
    for name, value, allowed in (
        ("extrapolate", extrapolate, EXTRAPOLATES),
        ("image_interp", image_interp, IMAGE_INTERPS),
        ("ch_type", ch_type, SUPPORTED_CH_TYPES),
    ):
        if value not in allowed:
            raise EegemoError(f"{name} must be one of {', '.join(allowed)}; got {value!r}")
    if isinstance(border, str):
        if border != "mean":
            raise EegemoError(f"border must be 'mean' or a number, got {border!r}")
    elif not isinstance(border, int | float | np.number) or isinstance(border, bool):
        raise EegemoError(f"border must be 'mean' or a number, got {border!r}")


class TopomapRasterizer:
    """Band power to topomap images, built once per montage, exact to MNE.

    Parameters
    ----------
    info : mne.Info
        Measurement info with channel positions (a montage). Channels of type
        ``ch_type`` are used, in the order of ``info``, bad channels included (as
        :func:`mne.viz.plot_topomap` does when given an Info).
    res : int
        Image side in pixels, as in :func:`mne.viz.plot_topomap`.
    sphere : float | array-like | str | None
        Head sphere as in :func:`mne.viz.plot_topomap`: ``None`` is MNE's default
        (origin ``(0, 0, 0)``, radius 0.095 m, unless the info holds enough extra
        head-shape points, then ``"auto"``), a radius, ``(x, y, z, radius)``, ``"auto"``,
        ``"eeglab"`` or a spherical :class:`mne.bem.ConductorModel`.
    extrapolate : {"auto", "head", "box", "local"}
        Extrapolation as in MNE; ``"auto"`` is ``"head"`` for these channel types.
    border : "mean" | float
        Value at the extrapolation points: the mean of the neighbouring channels, or a
        constant (then ``transform`` is affine, ``offset`` holds the constant part).
    image_interp : {"cubic", "linear", "nearest"}
        Interpolation as in MNE. ``"nearest"`` copies the nearest channel (the Voronoi
        cells MNE draws in that mode).
    ch_type : str
        Channel type to map, one of :data:`SUPPORTED_CH_TYPES`.

    Attributes
    ----------
    ch_names : list of str
        Channels whose values ``transform`` expects, in order.
    pos : ndarray, shape (n_channels, 2)
        Channel positions on the topomap plane (metres), as MNE computes them.
    sphere : ndarray, shape (4,)
        The resolved head sphere.
    res : int
        Image side.
    extent : tuple of float
        ``(xmin, xmax, ymin, ymax)`` of the grid, as MNE passes to ``imshow``.
    mask : ndarray of bool, shape (res, res)
        True inside the head: grid points inside MNE's clip path (the clip circle, or
        for ``"local"`` the hull polygon) where MNE's interpolant is defined.
    matrix : ndarray, shape (res * res, n_channels)
        ``transform(v).ravel() == matrix @ v + offset`` (NaN rows outside the head).
    offset : ndarray, shape (res * res,)
        Constant part (zero unless ``border`` is a number).
    key : str
        Hash of channel names, positions, sphere and options: equal keys give equal
        matrices, so one rasterizer can be reused per montage.
    """

    def __init__(
        self,
        info: mne.Info,
        *,
        res: int = 64,
        sphere: Any = None,
        extrapolate: str = "auto",
        border: float | str = "mean",
        image_interp: str = "cubic",
        ch_type: str = "eeg",
    ) -> None:
        _check_options(res, extrapolate, border, image_interp, ch_type)
        picks = _picks(info, ch_type)
        self.ch_names = [info["ch_names"][k] for k in picks]
        self.sphere = _resolve_sphere(sphere, info)
        self.pos = project_positions(_channel_positions(info, picks), self.sphere)
        self.res = int(res)
        self.extrapolate = "head" if extrapolate == "auto" else extrapolate
        self.border = border
        self.image_interp = image_interp
        self.ch_type = ch_type
        self.key = self._make_key()
        self._build()

    def _make_key(self) -> str:
        payload = json.dumps(
            {
                "version": _ALGORITHM_VERSION,
                "ch_names": self.ch_names,
                "pos": self.pos.tobytes().hex(),
                "sphere": self.sphere.tobytes().hex(),
                "res": self.res,
                "extrapolate": self.extrapolate,
                "border": self.border if isinstance(self.border, str) else float(self.border),
                "image_interp": self.image_interp,
                "ch_type": self.ch_type,
            },
            sort_keys=True,
        )
        return hashlib.sha256(payload.encode()).hexdigest()[:32]

    def _build(self) -> None:
        pos, n = self.pos, len(self.ch_names)
        # plot_topomap builds its outlines with clip origin (0, 0) whatever the sphere.
        x0, y0, radius = self.sphere[0], self.sphere[1], self.sphere[3]
        clip_origin = np.zeros(2)
        mask_scale = max(1.0, np.linalg.norm(pos, axis=1).max() * 1.01 / radius)
        clip_radius = radius * mask_scale
        angles = np.linspace(0, 2 * np.pi, 101)
        mask_x = mask_scale * (np.cos(angles) * radius + x0)
        mask_y = mask_scale * (np.sin(angles) * radius + y0)
        xmin = min(mask_x.min(), clip_origin[0] - clip_radius)
        xmax = max(mask_x.max(), clip_origin[0] + clip_radius)
        ymin = min(mask_y.min(), clip_origin[1] - clip_radius)
        ymax = max(mask_y.max(), clip_origin[1] + clip_radius)
        self.extent = (float(xmin), float(xmax), float(ymin), float(ymax))
        xi = np.linspace(xmin, xmax, self.res)
        yi = np.linspace(ymin, ymax, self.res)
        grid_x, grid_y = np.meshgrid(xi, yi)
        xy = np.column_stack([grid_x.ravel(), grid_y.ravel()])

        extra, mask_pts, tri = _extra_points(
            pos, self.extrapolate, clip_origin, np.array([clip_radius, clip_radius])
        )
        self._clip = (clip_origin, clip_radius, mask_pts)
        inside = _inside_clip(xy, clip_origin, clip_radius, mask_pts)
        points = xy[inside]  # only these are shown, so only these are interpolated
        n_extra = len(extra)
        offset = np.zeros(len(points))
        if self.image_interp == "nearest":
            from scipy.spatial import cKDTree

            weights = np.zeros((len(points), n))
            weights[np.arange(len(points)), cKDTree(pos).query(points)[1]] = 1.0
        else:
            if isinstance(self.border, str):
                values = _border_operator(tri, n, n_extra)
            else:
                values = np.zeros((n + n_extra, n + 1))
                values[:n, :n] = np.eye(n)
                values[n:, n] = float(self.border)
            cols = _interpolate_columns(tri, values, points, self.image_interp)
            weights = cols[:, :n]
            if cols.shape[1] > n:
                offset = cols[:, n]
        # NaN columns outside the head (and outside the triangulation, where MNE's
        # interpolant is NaN too): the matrix product then yields NaN there by itself.
        self._weights = np.full((n, len(xy)), np.nan)
        self._weights[:, inside] = weights.T
        self._offset = np.full(len(xy), np.nan)
        self._offset[inside] = offset
        self._has_offset = bool(np.any(offset != 0))
        self.mask = np.isfinite(self._weights).all(axis=0).reshape(self.res, self.res)
        if not self.mask.any():  # MNE would draw an empty image
            raise EegemoError(
                f"the {n} channel positions span no area with extrapolate="
                f"{self.extrapolate!r} (e.g. all on one line); use extrapolate='head'"
            )

    def contains(self, xy: np.ndarray) -> np.ndarray:
        """Whether points on the topomap plane lie inside MNE's clip path.

        Parameters
        ----------
        xy : ndarray, shape (n_points, 2)
            Plane coordinates in metres (the units of :attr:`pos` and :attr:`extent`).

        Returns
        -------
        inside : ndarray of bool, shape (n_points,)
            Inside the clip circle (or, for ``extrapolate="local"``, the hull polygon).
        """
        return _inside_clip(np.asarray(xy, dtype=float).reshape(-1, 2), *self._clip)

    @property
    def n_channels(self) -> int:
        """Number of channels ``transform`` expects in the last axis."""
        return len(self.ch_names)

    @property
    def matrix(self) -> np.ndarray:
        """Linear map from channel values to flattened images, NaN rows outside the head."""
        return self._weights.T.copy()

    @property
    def offset(self) -> np.ndarray:
        """Constant image part (non-zero only for a numeric ``border``), NaN outside."""
        return self._offset.copy()

    def transform(self, values: Any) -> np.ndarray:
        """Map channel values to topomap images.

        Parameters
        ----------
        values : array-like, shape (..., n_channels)
            Values per channel, channels in the order of :attr:`ch_names`; any leading
            shape (epochs, bands, ...). Computed in float64.

        Returns
        -------
        images : ndarray of float32, shape (..., res, res)
            Images in MNE's orientation (row 0 is the back of the head), NaN outside
            the head. A NaN channel value makes the whole image NaN.
        """
        values = np.asarray(values, dtype=np.float64)
        if values.ndim == 0 or values.shape[-1] != self.n_channels:
            raise EegemoError(
                f"topomap values must have shape (..., {self.n_channels}) for channels "
                f"{', '.join(self.ch_names[:4])}...; got shape {values.shape}"
            )
        lead = values.shape[:-1]
        flat = values.reshape(-1, self.n_channels)
        out = np.empty((flat.shape[0], self.res * self.res), dtype=np.float32)
        for start in range(0, flat.shape[0], _CHUNK):
            block = flat[start : start + _CHUNK] @ self._weights  # float64, NaN outside
            if self._has_offset:
                block += self._offset
            out[start : start + _CHUNK] = block
        return out.reshape(*lead, self.res, self.res)

    def __repr__(self) -> str:
        return (
            f"TopomapRasterizer({self.n_channels} {self.ch_type} channels, res={self.res}, "
            f"extrapolate={self.extrapolate!r}, image_interp={self.image_interp!r}, "
            f"border={self.border!r}, key={self.key[:8]})"
        )
