"""The preprocessing configuration: the schema of a ``pipelines/*.toml`` file.

:class:`PreprocessConfig` says *what* is computed (discovery, channel hygiene,
stages, epochs, band power, topomaps, heart features). *How* it is run (number of jobs, backend)
is not part of it, so it never changes cache keys or outputs. Read one with
``load_config(PreprocessConfig, path, overrides)`` (:func:`eegemo.config.load_config`).
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from ..config import option
from ..errors import ConfigError
from ..physio.settings import PhysioConfig
from .channels import ChannelsConfig
from .io import DiscoveryConfig
from .rejection import require_autoreject
from .spectral import DEFAULT_BANDS, METHODS
from .stages import Stage, StageSpec

if TYPE_CHECKING:
    import mne

#: The classic chain (each stage with its default parameters: bandpass 1-45 Hz, notch at
#: the line frequency, resample to 250 Hz, average reference, ICA), used when a
#: configuration has no ``[[stages]]``.
#: Power-line frequency assumed when neither the configuration nor the recording gives one.
DEFAULT_LINE_FREQ = 50.0

DEFAULT_STAGES: list[StageSpec] = [
    StageSpec(name) for name in ("bandpass", "notch", "resample", "rereference", "ica")
]


@dataclasses.dataclass
class RejectConfig:
    """Which epochs are dropped as bad."""

    method: str = option(
        "ptp",
        help='"none"; "ptp": drop an epoch when any EEG channel\'s peak-to-peak amplitude '
        'exceeds ptp_uv; "percentile": per-channel thresholds from percentiles of the '
        "peak-to-peak values of the recording's own epochs, dropping an epoch when more "
        "than max_bad_fraction of its channels exceed theirs (see percentile, factor); "
        '"autoreject": autoreject\'s local, per-channel thresholds learnt by '
        "cross-validation, dropping an epoch when at least a learnt fraction of its "
        "channels exceed theirs and otherwise interpolating its bad channels in that epoch "
        "(Jas et al. 2017; needs pip install autoreject).",
        choices=("none", "ptp", "percentile", "autoreject"),
    )
    ptp_uv: float = option(150.0, help='Peak-to-peak threshold in µV for method "ptp".')
    percentile: float = option(
        75.0,
        help="Upper percentile P of each channel's peak-to-peak values across epochs; the "
        "channel's threshold is P + factor * (P - lower percentile (100 - P)).",
    )
    factor: float = option(3.0, help="Multiplier of the percentile spread (see percentile).")
    max_bad_fraction: float = option(
        0.2, help="An epoch is dropped when more than this fraction of channels exceed their "
        "threshold.",
    )

    def __post_init__(self) -> None:
        if self.ptp_uv <= 0:
            raise ConfigError(f"ptp_uv: expected > 0, got {self.ptp_uv}")
        if not 50.0 < self.percentile < 100.0:
            raise ConfigError(f"percentile: expected between 50 and 100, got {self.percentile}")
        if not 0.0 <= self.max_bad_fraction < 1.0:
            raise ConfigError(
                f"max_bad_fraction: expected in [0, 1), got {self.max_bad_fraction}"
            )
        if self.method == "autoreject":
            require_autoreject(key="method")


@dataclasses.dataclass
class EpochsConfig:
    """How the cleaned recording is cut into epochs and which epochs are rejected."""

    length_s: float = option(2.0, help="Epoch length in seconds.")
    overlap_s: float = option(0.0, help="Overlap of consecutive epochs in seconds.")
    source: str = option(
        "fixed",
        help='"fixed": windows over the whole recording, labelled with the recording\'s '
        'label; "annotations": windows inside each annotation listed in labels; "events": '
        "one window from tmin_s after each event listed in labels.",
        choices=("fixed", "annotations", "events"),
    )
    labels: dict[str, str] = option(
        {},
        help='Annotation description or event code -> epoch label, e.g. {"1" = "rest"}; '
        "for annotations/events, only those listed are epoched (all when empty).",
    )
    tmin_s: float = option(0.0, help='Start of each epoch relative to its event ("events").')
    baseline_s: float = option(
        0.0,
        help="Seconds before each annotation or event (the pre-stimulus segment a study "
        "records) whose band power is each of its epochs' baseline: band power becomes the "
        "log10 difference (or, without log10, the ratio) to it; 0 = none. Epochs whose "
        "segment is cut by the recording's start or a bad segment are dropped.",
    )
    reject: RejectConfig = option(RejectConfig(), help="Bad-epoch rejection.")

    def __post_init__(self) -> None:
        if self.length_s <= 0:
            raise ConfigError(f"length_s: expected > 0, got {self.length_s}")
        if not 0.0 <= self.overlap_s < self.length_s:
            raise ConfigError(
                f"overlap_s: expected 0 <= overlap_s < length_s ({self.length_s}), "
                f"got {self.overlap_s}"
            )
        if self.baseline_s < 0:
            raise ConfigError(f"baseline_s: expected >= 0, got {self.baseline_s}")
        if self.baseline_s and self.source == "fixed":
            raise ConfigError(
                'baseline_s: a baseline precedes an annotation or event; set epochs.source '
                'to "annotations" or "events" (got "fixed")'
            )


@dataclasses.dataclass
class BandpowerConfig:
    """Spectral estimate and frequency bands."""

    method: str = option("welch", help="Welch's method or one Hann-windowed FFT.", choices=METHODS)
    segment_s: float = option(1.0, help="Welch segment length in seconds (50 % overlap).")
    bands: dict[str, list[float]] = option(
        DEFAULT_BANDS, help="Band name -> [low, high] in Hz (low <= f < high), in output order."
    )
    log10: bool = option(True, help="Store log10 of the band power (µV²).")
    relative: bool = option(False, help="Divide by the summed power of all bands first.")

    def __post_init__(self) -> None:
        if not self.bands:
            raise ConfigError("bands: give at least one band")
        for name, edges in self.bands.items():
            if len(edges) != 2 or not 0 <= edges[0] < edges[1]:
                raise ConfigError(
                    f"bands.{name}: expected [low, high] with 0 <= low < high, "
                    f"got {edges}"
                )
        if self.segment_s <= 0:
            raise ConfigError(f"segment_s: expected > 0, got {self.segment_s}")


@dataclasses.dataclass
class TopomapConfig:
    """Band-power images interpolated from the channel positions."""

    res: int = option(32, help="Image height and width in pixels.")
    extrapolate: str = option(
        "head",
        help="Where values are extrapolated, as in mne.viz.plot_topomap.",
        choices=("auto", "head", "box", "local"),
    )
    image_interp: str = option(
        "cubic", help="Interpolation method.", choices=("cubic", "linear", "nearest")
    )
    sphere: float | None = option(
        None, help="Head radius in metres (default: MNE's automatic sphere)."
    )
    border: float | str = option(
        "mean", help='Value at the border of the extrapolation: "mean" or a number.'
    )
    png: bool = option(False, help="Also write a PNG panel per recording (mean over epochs).")

    def __post_init__(self) -> None:
        if not 8 <= self.res <= 512:
            raise ConfigError(f"res: expected 8 to 512 pixels, got {self.res}")
        if isinstance(self.border, str) and self.border != "mean":
            raise ConfigError(f'border: expected "mean" or a number, got {self.border!r}')


@dataclasses.dataclass
class PreprocessConfig:
    """Everything ``eegemo preprocess`` computes: a ``pipelines/*.toml`` file."""

    line_freq: float | str = option(
        "auto",
        help='Power-line frequency in Hz (50 in Europe/Asia, 60 in the Americas), or "auto": '
        "the recording's own (BIDS PowerLineFrequency, a FIF file's line_freq), else "
        f"{DEFAULT_LINE_FREQ:g}.",
    )
    discovery: DiscoveryConfig = option(
        DiscoveryConfig(), help="Finding recordings, subjects and labels."
    )
    channels: ChannelsConfig = option(ChannelsConfig(), help="Channel names, types and montage.")
    stages: list[StageSpec] = option(
        DEFAULT_STAGES,
        help="[[stages]] tables in order of application, each with a name "
        "and that stage's parameters.",
    )
    epochs: EpochsConfig = option(EpochsConfig(), help="Epoching and bad-epoch rejection.")
    bandpower: BandpowerConfig = option(BandpowerConfig(), help="Band power.")
    topomap: TopomapConfig = option(TopomapConfig(), help="Topomap images.")
    physio: PhysioConfig = option(
        PhysioConfig(), help="Heart rate and HRV per epoch from an ECG or PPG channel."
    )

    def __post_init__(self) -> None:
        if isinstance(self.line_freq, str):
            if self.line_freq != "auto":
                raise ConfigError(
                    f'line_freq: expected a frequency in Hz or "auto", got {self.line_freq!r}'
                )
        elif self.line_freq <= 0:
            raise ConfigError(f"line_freq: expected a positive frequency, got {self.line_freq}")

    def recording_line_freq(self, raw: mne.io.BaseRaw) -> tuple[float, str]:
        """The power-line frequency of ``raw`` in Hz, and where it came from.

        Parameters
        ----------
        raw : mne.io.BaseRaw
            The recording (its ``info["line_freq"]`` is read when ``line_freq`` is
            ``"auto"``).

        Returns
        -------
        line_freq : float
        source : str
            ``"config"``, ``"recording"`` or ``"default"`` (auto, and the recording
            does not say).
        """
        if self.line_freq != "auto":
            return float(self.line_freq), "config"
        found = raw.info.get("line_freq")
        if found:
            return float(found), "recording"
        return DEFAULT_LINE_FREQ, "default"

    def build_stages(self) -> list[Stage]:
        """Instantiate the configured stages, in order."""
        return [spec.build() for spec in self.stages]
