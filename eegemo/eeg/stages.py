"""Processing stages applied to continuous recordings, each a small class with its own params.

A stage knows only its own parameters (a dataclass validated from one ``[[stages]]``
table of the TOML pipeline) and turns one :class:`mne.io.BaseRaw` into another.
While it works it writes what it did into ``context.record`` (plain JSON-compatible
data), which the pipeline stores in the provenance. Every problem the data causes
is raised as :class:`~eegemo.errors.RecordingError` carrying the stage's name.

Stages are registered by name in :data:`STAGES`. A configured stage is a
:class:`StageSpec` (its name and validated parameters), read from a TOML table such
as ``{name = "bandpass", l_freq = 1.0}``; :func:`build_stage` turns such a table
into a stage object.
"""

from __future__ import annotations

import dataclasses
import difflib
import fnmatch
import importlib.util
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from ..config import from_dict, option, to_dict
from ..errors import ConfigError, RecordingError

if TYPE_CHECKING:
    import mne


@dataclasses.dataclass
class StageContext:
    """What a stage may know beyond its parameters, and where it records what it did.

    Parameters
    ----------
    line_freq : float
        Power-line frequency of the recording site in Hz (50 or 60).
    line_freq_source : str
        Where ``line_freq`` came from: ``"config"``, ``"recording"`` or ``"default"``.
    record : dict
        Filled by the stage with JSON-compatible facts about what it did.
    artifacts : dict
        Filled by the stage with objects worth keeping that are not JSON, e.g. the
        fitted :class:`mne.preprocessing.ICA` under ``"ica"``.
    """

    line_freq: float = 50.0
    line_freq_source: str = "config"
    record: dict[str, Any] = dataclasses.field(default_factory=dict)
    artifacts: dict[str, Any] = dataclasses.field(default_factory=dict)


class Stage:
    """Base class of processing stages.

    Subclasses set :attr:`name` (the ``name`` of the TOML table), :attr:`Params`
    (a dataclass of their parameters) and implement :meth:`apply`.

    Parameters
    ----------
    params : dataclass instance
        The stage's validated parameters (an instance of :attr:`Params`).
    """

    name: ClassVar[str]
    Params: ClassVar[type]

    def __init__(self, params: Any = None):
        self.params = params if params is not None else self.Params()

    def apply(self, raw: mne.io.BaseRaw, context: StageContext) -> mne.io.BaseRaw:
        """Process ``raw`` (in place or as a copy) and return the result."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.params})"


def _eeg_picks(raw: mne.io.BaseRaw, stage: str) -> list[int]:
    import mne

    picks = mne.pick_types(raw.info, eeg=True, exclude="bads")
    if len(picks) == 0:
        raise RecordingError(stage, "no EEG channels left to process")
    return list(picks)


def _filter_picks(raw: mne.io.BaseRaw) -> list[int]:
    """EEG and the auxiliary channels ICA uses as references (EOG, ECG, EMG)."""
    import mne

    return list(mne.pick_types(raw.info, eeg=True, eog=True, ecg=True, emg=True, exclude=()))


def _nyquist(raw: mne.io.BaseRaw) -> float:
    return raw.info["sfreq"] / 2.0


# --------------------------------------------------------------------------- bandpass


@dataclasses.dataclass
class BandpassParams:
    """Parameters of :class:`Bandpass`."""

    l_freq: float | None = option(1.0, help="High-pass edge in Hz (omit for low-pass only).")
    h_freq: float | None = option(
        45.0, help="Low-pass edge in Hz (omit for high-pass only); must be below Nyquist."
    )
    method: str = option("fir", help="Filter design.", choices=("fir", "iir"))

    def __post_init__(self) -> None:
        if self.l_freq is None and self.h_freq is None:
            raise ConfigError("h_freq: give l_freq, h_freq or both")
        for key in ("l_freq", "h_freq"):
            value = getattr(self, key)
            if value is not None and value <= 0:
                raise ConfigError(f"{key}: expected a positive frequency, got {value}")
        if self.l_freq is not None and self.h_freq is not None and self.l_freq >= self.h_freq:
            raise ConfigError(f"l_freq: expected below h_freq ({self.h_freq}), got {self.l_freq}")


class Bandpass(Stage):
    """Zero-phase band-pass (or high-/low-pass) filter of EEG and auxiliary channels."""

    name = "bandpass"
    Params = BandpassParams

    def apply(self, raw: mne.io.BaseRaw, context: StageContext) -> mne.io.BaseRaw:
        """Filter ``raw`` in place; fail clearly when the sampling rate is too low."""
        p = self.params
        sfreq = raw.info["sfreq"]
        if p.h_freq is not None and p.h_freq >= _nyquist(raw):
            raise RecordingError(
                self.name,
                f"sampling rate {sfreq:g} Hz is too low for a {p.h_freq:g} Hz low-pass edge "
                f"(needs more than {2 * p.h_freq:g} Hz); lower stages.bandpass.h_freq",
            )
        picks = _filter_picks(raw)
        raw.filter(p.l_freq, p.h_freq, picks=picks, method=p.method, verbose="error")
        context.record.update(
            l_freq=p.l_freq, h_freq=p.h_freq, method=p.method, n_channels=len(picks)
        )
        return raw


# --------------------------------------------------------------------------- notch


@dataclasses.dataclass
class NotchParams:
    """Parameters of :class:`Notch`."""

    freqs: list[float] = option(
        [], help="Frequencies to remove in Hz; empty: the line frequency (see harmonics)."
    )
    harmonics: bool = option(
        True, help="With empty freqs, also remove the harmonics of line_freq below Nyquist."
    )


class Notch(Stage):
    """Notch filter at the power-line frequency and its harmonics below Nyquist."""

    name = "notch"
    Params = NotchParams

    def apply(self, raw: mne.io.BaseRaw, context: StageContext) -> mne.io.BaseRaw:
        """Remove line noise in place; skip (and say so) when no frequency is below Nyquist."""
        import numpy as np

        p = self.params
        nyq = _nyquist(raw)
        if p.freqs:
            wanted = list(p.freqs)
        else:
            context.record.update(line_freq=context.line_freq,
                                  line_freq_from=context.line_freq_source)
            n = int(nyq // context.line_freq) if p.harmonics else 1
            wanted = list(np.arange(1, n + 1) * context.line_freq)
        # The notch transition band is 1 Hz wide: keep clear of Nyquist.
        freqs = [float(f) for f in wanted if f < nyq - 1.0]
        if not freqs:
            context.record.update(
                freqs=[], skipped=f"no requested frequency below Nyquist ({nyq:g} Hz)"
            )
            return raw
        picks = _filter_picks(raw)
        raw.notch_filter(freqs, picks=picks, verbose="error")
        context.record.update(freqs=freqs, n_channels=len(picks))
        return raw


# --------------------------------------------------------------------------- resample


@dataclasses.dataclass
class ResampleParams:
    """Parameters of :class:`Resample`."""

    sfreq: float = option(250.0, help="Target sampling rate in Hz; lower rates are kept.")

    def __post_init__(self) -> None:
        if self.sfreq <= 0:
            raise ConfigError(f"sfreq: expected a positive rate, got {self.sfreq}")


class Resample(Stage):
    """Downsample to ``sfreq`` (with anti-alias filtering); never upsample."""

    name = "resample"
    Params = ResampleParams

    def apply(self, raw: mne.io.BaseRaw, context: StageContext) -> mne.io.BaseRaw:
        """Resample in place when the recording's rate is above the target."""
        original = float(raw.info["sfreq"])
        target = float(self.params.sfreq)
        if original <= target:
            context.record.update(
                sfreq=original, skipped=f"already at {original:g} Hz <= {target:g} Hz"
            )
            return raw
        raw.resample(target, verbose="error")
        context.record.update(from_sfreq=original, sfreq=float(raw.info["sfreq"]))
        return raw


# --------------------------------------------------------------------------- rereference


@dataclasses.dataclass
class RereferenceParams:
    """Parameters of :class:`Rereference`."""

    ref: str | list[str] = option(
        "average", help='"average" or the name(s) of the reference channel(s), e.g. ["Cz"].'
    )


class Rereference(Stage):
    """Re-reference EEG to the average of all EEG channels or to given channels."""

    name = "rereference"
    Params = RereferenceParams

    def apply(self, raw: mne.io.BaseRaw, context: StageContext) -> mne.io.BaseRaw:
        """Apply the new reference in place (as data, not as a projector)."""
        ref = self.params.ref
        if isinstance(ref, str) and ref != "average":
            ref = [ref]
        if ref != "average":
            missing = [ch for ch in ref if ch not in raw.ch_names]
            if missing:
                raise RecordingError(
                    self.name,
                    f"reference channel(s) {', '.join(missing)} not in the recording "
                    f"(EEG channels: {', '.join(raw.copy().pick('eeg').ch_names)})",
                )
        _eeg_picks(raw, self.name)
        raw.set_eeg_reference(ref, projection=False, verbose="error")
        context.record.update(ref=ref)
        return raw


# --------------------------------------------------------------------------- ICA


_ICLABEL_CLASSES = (
    "brain",
    "muscle artifact",
    "eye blink",
    "heart beat",
    "line noise",
    "channel noise",
    "other",
)


@dataclasses.dataclass
class IcaParams:
    """Parameters of :class:`Ica`."""

    n_components: float = option(
        0.99,
        help="Components kept: a fraction (< 1) of explained variance, or a count (>= 1).",
    )
    method: str = option(
        "fastica", help="ICA algorithm (picard needs python-picard).",
        choices=("fastica", "infomax", "picard"),
    )
    random_state: int = option(97, help="Seed of the ICA fit, fixed for reproducible output.")
    max_iter: int = option(1000, help="Maximum number of ICA iterations.")
    fit_l_freq: float = option(
        1.0, help="High-pass (Hz) applied to the copy ICA is fitted on; the data keeps its own."
    )
    decim: int = option(1, help="Fit on every decim-th sample (speed); 1 uses all samples.")
    detect: str = option(
        "scores",
        help='How artifact components are found: "scores" (correlation with EOG / frontal '
        'channels and the muscle criterion) or "iclabel" (mne-icalabel classifier).',
        choices=("scores", "iclabel"),
    )
    eog: bool = option(True, help='With detect="scores": reject eye components.')
    eog_measure: str = option(
        "auto",
        help='How EOG similarity is judged: "zscore" of the correlations across components, '
        '"correlation" (absolute Pearson r), or "auto": zscore when there are enough '
        "components for a z-score to reach eog_threshold (n >= 11 for 3), else correlation.",
        choices=("auto", "zscore", "correlation"),
    )
    eog_threshold: float = option(3.0, help="z-score above which a component counts as ocular.")
    eog_correlation: float = option(
        0.8, help="Absolute correlation above which a component counts as ocular."
    )
    eog_proxy: list[str] = option(
        ["Fp1", "Fp2", "Fpz", "AF*", "F7", "F8"],
        help="Frontal channels (shell patterns, case-insensitive) used as EOG when the "
        "recording has no EOG channel.",
    )
    muscle: bool = option(True, help='With detect="scores": reject muscle components.')
    muscle_threshold: float = option(
        0.5, help="Score above which a component counts as muscle (find_bads_muscle)."
    )
    iclabel_thresholds: dict[str, float] = option(
        {"eye blink": 0.8, "muscle artifact": 0.8},
        help='With detect="iclabel": reject components whose most likely ICLabel class is '
        "listed here with a probability at least this high.",
    )

    def __post_init__(self) -> None:
        if self.n_components <= 0:
            raise ConfigError(f"n_components: expected > 0, got {self.n_components}")
        if self.n_components >= 1 and self.n_components != int(self.n_components):
            raise ConfigError(
                f"n_components: a count must be a whole number, got {self.n_components}"
            )
        if self.method == "picard" and importlib.util.find_spec("picard") is None:
            raise ConfigError(
                'method: "picard" needs the python-picard package; install it or use '
                '"fastica" or "infomax"'
            )
        if self.detect == "iclabel" and importlib.util.find_spec("mne_icalabel") is None:
            raise ConfigError(
                'detect: "iclabel" needs the mne-icalabel package; install it '
                '(pip install "eegemo[icalabel]") or use "scores"'
            )
        for label in self.iclabel_thresholds:
            if label not in _ICLABEL_CLASSES:
                close = difflib.get_close_matches(label, _ICLABEL_CLASSES, n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                raise ConfigError(
                    f"iclabel_thresholds: unknown ICLabel class {label!r}{hint} "
                    f"(classes: {', '.join(_ICLABEL_CLASSES)})"
                )
        if self.decim < 1:
            raise ConfigError(f"decim: expected >= 1, got {self.decim}")


class Ica(Stage):
    """Independent component analysis with automatic rejection of eye and muscle components.

    The decomposition is fitted on a copy high-passed at ``fit_l_freq`` (slow drifts
    spoil ICA) and applied to the data itself. With ``detect = "scores"``, eye
    components are those correlating with the EOG channels (or with frontal channels
    as a proxy when there is none) and muscle components those flagged by
    :meth:`mne.preprocessing.ICA.find_bads_muscle`; with ``detect = "iclabel"`` the
    ICLabel classifier decides. Every excluded component is recorded with the
    criterion and score that excluded it.
    """

    name = "ica"
    Params = IcaParams

    def apply(self, raw: mne.io.BaseRaw, context: StageContext) -> mne.io.BaseRaw:
        """Fit ICA, find artifact components, and remove them from ``raw`` in place."""
        from mne.preprocessing import ICA

        p = self.params
        picks = _eeg_picks(raw, self.name)
        if len(picks) < 3:
            raise RecordingError(self.name, f"ICA needs at least 3 EEG channels, got {len(picks)}")
        fit_raw = raw.copy()
        highpass = fit_raw.info["highpass"] or 0.0
        if p.fit_l_freq and highpass < p.fit_l_freq:
            fit_raw.filter(p.fit_l_freq, None, picks=_filter_picks(fit_raw), verbose="error")
        n_components = int(p.n_components) if p.n_components >= 1 else p.n_components
        if isinstance(n_components, int) and n_components > len(picks):
            raise RecordingError(
                self.name,
                f"n_components={n_components} exceeds the {len(picks)} EEG channels",
            )
        ica = ICA(
            n_components=n_components,
            method=p.method,
            random_state=p.random_state,
            max_iter=p.max_iter,
            fit_params={"extended": True} if p.method == "infomax" else None,
            verbose="error",
        )
        ica.fit(fit_raw, picks=picks, decim=p.decim, verbose="error")

        if p.detect == "iclabel":
            excluded = self._iclabel(fit_raw, ica)
        else:
            excluded = self._eog(fit_raw, ica, context) + self._muscle(fit_raw, ica, context)
        # One entry per component: the first criterion that flagged it.
        unique: dict[int, dict[str, Any]] = {}
        for entry in excluded:
            unique.setdefault(entry["component"], entry)
        excluded = [unique[k] for k in sorted(unique)]
        ica.apply(raw, exclude=[e["component"] for e in excluded], verbose="error")
        context.artifacts["ica"] = ica
        context.record.update(
            method=p.method,
            n_components=int(ica.n_components_),
            fit_l_freq=p.fit_l_freq,
            detect=p.detect,
            excluded=excluded,
        )
        return raw

    def _eog(self, raw: mne.io.BaseRaw, ica: Any, context: StageContext) -> list[dict]:
        import mne
        import numpy as np

        p = self.params
        if not p.eog:
            return []
        eog_names = [raw.ch_names[i] for i in mne.pick_types(raw.info, eog=True)]
        source = "eog"
        if not eog_names:
            eeg = [raw.ch_names[i] for i in mne.pick_types(raw.info, eeg=True)]
            patterns = [pat.lower() for pat in p.eog_proxy]
            eog_names = [
                ch for ch in eeg if any(fnmatch.fnmatch(ch.lower(), pat) for pat in patterns)
            ]
            source = "frontal proxy"
        context.record["eog_channels"] = eog_names
        context.record["eog_source"] = source
        if not eog_names:
            context.record["eog_skipped"] = "no EOG channel and no frontal proxy channel"
            return []
        n = int(ica.n_components_)
        measure = p.eog_measure
        if measure == "auto":
            # With n components no |z| can exceed (n - 1) / sqrt(n): 3 needs n >= 11.
            measure = "zscore" if (n - 1) / np.sqrt(n) > p.eog_threshold else "correlation"
        threshold = p.eog_threshold if measure == "zscore" else p.eog_correlation
        context.record["eog_measure"] = measure
        inds, scores = ica.find_bads_eog(
            raw, ch_name=eog_names, threshold=threshold, measure=measure, verbose="error"
        )
        # Scores are correlations (1-10 Hz) with each EOG channel, whatever the measure.
        corr = np.atleast_2d(np.asarray(scores))
        rule = (
            f"|z| of r across components > {threshold:g}"
            if measure == "zscore"
            else f"|r| > {threshold:g}"
        )
        # The strongest candidate, excluded or not, shows how close the decision was.
        ch, comp = np.unravel_index(int(np.argmax(np.abs(corr))), corr.shape)
        context.record["eog_best"] = {
            "component": int(comp),
            "channel": eog_names[ch],
            "r": round(float(corr[ch, comp]), 4),
        }
        out = []
        for comp in inds:
            best = int(np.argmax(np.abs(corr[:, comp])))
            r = float(corr[best, comp])
            out.append(
                {
                    "component": int(comp),
                    "criterion": "eog",
                    "channel": eog_names[best],
                    "score": round(r, 4),
                    "why": f"r = {r:.2f} with {eog_names[best]} ({source}); {rule}",
                }
            )
        return out

    def _muscle(self, raw: mne.io.BaseRaw, ica: Any, context: StageContext) -> list[dict]:
        import numpy as np

        p = self.params
        if not p.muscle:
            return []
        h_freq = min(45.0, _nyquist(raw) - 1.0)
        inds, scores = ica.find_bads_muscle(
            raw, threshold=p.muscle_threshold, h_freq=h_freq, verbose="error"
        )
        best = int(np.argmax(scores))
        context.record["muscle_best"] = {
            "component": best,
            "score": round(float(scores[best]), 4),
            "threshold": round(p.muscle_threshold**3, 4),
        }
        return [
            {
                "component": int(comp),
                "criterion": "muscle",
                "score": round(float(scores[comp]), 4),
                # MNE multiplies three criteria and compares with threshold**3.
                "why": "muscle score (spectral slope x peripheral focus x spatial "
                f"roughness) > {p.muscle_threshold:g}^3",
            }
            for comp in inds
        ]

    def _iclabel(self, raw: mne.io.BaseRaw, ica: Any) -> list[dict]:
        import warnings

        from mne_icalabel import label_components

        with warnings.catch_warnings():
            # ICLabel warns when the data is not 1-100 Hz / average-referenced / infomax;
            # the configuration documents this and the probabilities are still recorded.
            warnings.simplefilter("ignore")
            result = label_components(raw, ica, method="iclabel")
        out = []
        pairs = zip(result["labels"], result["y_pred_proba"], strict=True)
        for comp, (label, prob) in enumerate(pairs):
            threshold = self.params.iclabel_thresholds.get(label)
            if threshold is not None and prob >= threshold:
                out.append(
                    {
                        "component": comp,
                        "criterion": f"iclabel:{label}",
                        "score": round(float(prob), 4),
                        "why": f"ICLabel class {label!r} with probability >= {threshold:g}",
                    }
                )
        return out


#: Stage classes by the ``name`` used in ``[[stages]]`` tables.
STAGES: dict[str, type[Stage]] = {
    cls.name: cls for cls in (Bandpass, Notch, Resample, Rereference, Ica)
}


def _stage_class(name: Any, where: str) -> type[Stage]:
    if not isinstance(name, str):
        raise ConfigError(f"{where}: every stage needs a name (one of: {', '.join(STAGES)})")
    if name not in STAGES:
        close = difflib.get_close_matches(name, list(STAGES), n=1, cutoff=0.5)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ConfigError(f"{where}: unknown stage {name!r}{hint} (stages: {', '.join(STAGES)})")
    return STAGES[name]


@dataclasses.dataclass
class StageSpec:
    """One configured stage: its name and its validated parameters.

    In TOML it is one ``[[stages]]`` table, the name beside the parameters:
    ``{name = "bandpass", l_freq = 1.0}``.

    Parameters
    ----------
    name : str
        A stage registered in :data:`STAGES`.
    params : dataclass instance, optional
        An instance of that stage's ``Params``; default: its default parameters.
    """

    name: str
    params: Any = None

    def __post_init__(self) -> None:
        cls = _stage_class(self.name, "name")
        if self.params is None:
            self.params = cls.Params()
        elif not isinstance(self.params, cls.Params):
            raise TypeError(
                f"params of stage {self.name!r} must be {cls.Params.__name__}, "
                f"got {type(self.params).__name__}"
            )

    @classmethod
    def from_table(cls, table: Any, where: str | None = None) -> StageSpec:
        """Validate one ``[[stages]]`` table.

        Parameters
        ----------
        table : mapping
            ``name`` plus the stage's parameters, e.g. ``{"name": "notch", "freqs": [60.0]}``.
        where : str, optional
            Dotted address of the table in error messages; default ``"stages.NAME"``.

        Returns
        -------
        spec : StageSpec

        Raises
        ------
        ConfigError
            If ``name`` is missing or unknown (the closest name is suggested) or a
            parameter is unknown, of the wrong type or out of range.
        """
        if not isinstance(table, Mapping):
            raise ConfigError(f"{where or 'stages'}: expected a table with a name, got {table!r}")
        stage = _stage_class(table.get("name"), where or "stages")
        params = {k: v for k, v in table.items() if k != "name"}
        return cls(stage.name, from_dict(stage.Params, params, where or f"stages.{stage.name}"))

    def to_table(self) -> dict[str, Any]:
        """The TOML table: the name and every parameter (defaults included)."""
        return {"name": self.name, **to_dict(self.params)}

    def build(self) -> Stage:
        """The stage object that applies these parameters."""
        return STAGES[self.name](self.params)


def build_stage(table: Mapping[str, Any], where: str | None = None) -> Stage:
    """Create a stage from one ``[[stages]]`` table.

    Parameters
    ----------
    table : mapping
        ``name`` plus the stage's parameters, e.g. ``{"name": "notch", "freqs": [60.0]}``.
    where : str, optional
        Dotted address of the table in error messages; default ``"stages.NAME"``.

    Returns
    -------
    stage : Stage
        The stage with validated parameters.

    Raises
    ------
    ConfigError
        As :meth:`StageSpec.from_table`.
    """
    return StageSpec.from_table(table, where).build()
