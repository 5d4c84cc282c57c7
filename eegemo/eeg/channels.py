"""Channel hygiene: names, types and electrode positions of a raw recording.

Recordings name their channels in many ways (``EEG Fp1-Ref``, ``FP1``, ``T3``,
``EEG A2-A1``, ``ECG ECG``, ``Status``). :func:`prepare_channels` maps scalp channels
onto the names of a montage, gives auxiliary channels their proper MNE type (so ICA
can use the EOG, and the heart features the ECG or PPG), sets aside the auxiliary
channels of consumer headsets (:data:`HEADSET_CHANNELS`), sets electrode positions, drops
what cannot be placed on the scalp, replaces bad EEG channels (flat, with poor contact,
noisy or bridged) by interpolation and reports every change for the provenance record. A
recording without usable EEG but with a heart channel is kept for its heart signal alone.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..config import option
from ..errors import ConfigError, RecordingError
from ..physio.heart import FLAT_STD_V
from ..physio.recording import HEART_TYPES, PPG_TYPE

if TYPE_CHECKING:
    import mne
    import numpy as np

#: Why a channel marked bad in a BIDS ``channels.tsv`` was replaced.
SIDECAR_BAD = "bad in channels.tsv"

#: Old 10-20 names and their modern (10-10) equivalents.
LEGACY_NAMES = {"T3": "T7", "T4": "T8", "T5": "P7", "T6": "P8"}

#: Prefixes stripped from channel names by default (when the rest is a montage channel).
DEFAULT_PREFIXES = ["EEG ", "EEG-", "EEG_", "EEG"]

#: Channel types kept beside the positioned EEG channels (``bio``: PPG channels only).
AUX_TYPES = ("eog", "ecg", "emg", "stim", PPG_TYPE)

# MNE 1.13 renamed the "standard_*" template montages to "colin27_*" (same positions).
_MONTAGE_ALIASES = {
    "standard_1020": "colin27_1020",
    "standard_1005": "colin27_1005",
    "standard_alphabetic": "colin27_alphabetic",
    "standard_postfixed": "colin27_postfixed",
    "standard_prefixed": "colin27_prefixed",
    "standard_primed": "colin27_primed",
}

#: Auxiliary channels of consumer headsets and trigger channels of any system, recognised
#: by their whole name (case-insensitive, after a prefix of ``channels.strip_prefixes``):
#: headset -> [(what the channels are, MNE type, regular expression)]. They are set aside:
#: ``misc`` channels are dropped, ``stim`` channels kept for ``epochs.source = "events"``.
HEADSET_CHANNELS: dict[str, list[tuple[str, str, str]]] = {
    "Emotiv": [
        ("contact quality", "misc", r"CQ_\w+|RAW_CQ|EQ_\w+|SIGNAL_QUALITY"),
        ("motion sensor", "misc", r"(GYRO|ACC|MAG)[XYZ]|Q[0-3]"),
        (
            "device status",
            "misc",
            r"(COUNTER|INTERPOLATED)(_MEMS)?|(OR_)?TIME_STAMP_m?s|BATTERY(_PERCENT)?"
            r"|HighBitFlex|SaturationFlag|MarkerIndex|MarkerType|MARKER_HARDWARE",
        ),
        ("marker", "stim", r"MarkerValueInt"),
    ],
    "Muse": [("auxiliary input", "misc", r"(right|left)[ _]?aux|aux([ _]?(right|left))?")],
    "OpenBCI": [
        ("accelerometer", "misc", r"Accel Channel \d+|Accel [XYZ]"),
        (
            "device status",
            "misc",
            r"Other|Analog Channel \d+|Timestamp( \(Formatted\))?|Sample Index",
        ),
    ],
    "generic": [
        ("trigger", "stim", r"status|trigger|triggers|trig|events?|stim|sti ?\d*|markers?")
    ],
}

_HEADSET_PATTERNS = [
    (f"{headset} {what}", ch_type, re.compile(pattern, re.I))
    for headset, rows in HEADSET_CHANNELS.items()
    for what, ch_type, pattern in rows
]

#: A scalp channel's contact-quality channel (Emotiv ``CQ_<site>``).
_CONTACT_CHANNEL = re.compile(r"CQ_(?P<site>.+)", re.I)

#: Full scales of contact-quality values: Emotiv levels 0 (no contact) to 4 (good) in
#: older exports, 0..100 or 0..1023 (and 0..4095) in others.
CONTACT_SCALES = (4.0, 100.0, 1023.0, 4095.0)

#: A contact-quality sample is poor at or below this fraction of its full scale: Emotiv
#: levels 0 (none), 1 (very bad) and 2 (poor) of 4; 3 (fair) and 4 (good) are not.
POOR_CONTACT_LEVEL = 0.5

# MNE's scaling of EDF values by their physical dimension, undone to compare with a scale.
_UNIT_SCALES = {"µV": 1e-6, "\u03bcV": 1e-6, "uV": 1e-6, "mV": 1e-3}

# Default of channels.max_bad_fraction (its former name max_flat_fraction may not also be set).
_DEFAULT_MAX_BAD_FRACTION = 0.25

#: Criteria of noisy channels (``channels.noisy``): key in the provenance -> words.
NOISY_CRITERIA = {
    "deviation": "amplitude deviation",
    "correlation": "low correlation",
    "hf_noise": "high-frequency noise",
}
_NOISY_KEYS = {
    "deviation": "noisy_deviation_z",
    "correlation": "noisy_correlation",
    "hf_noise": "noisy_hf_z",
}
# Noisy and bridged channels are looked for in recordings at least this long (s): the
# 0.5 Hz high-pass of the bridging check is 6.6 s long.
_MIN_CHECK_S = 10.0
# Fewer channels make robust statistics across channels meaningless.
_MIN_COMPARED = 6
# The spread of the robust z-scores is at least this fraction of the median, so that
# channels much alike do not make small differences extreme. Amplitude: with z 5, a
# channel must be 1.75 times the median or 0.25 times (on the homogeneous eegmat data,
# frontal channels 1.5 times the median stood out otherwise). Ratio above 50 Hz: small
# and nearly equal in recordings band-limited below 50 Hz, where temporal channels with
# some muscle activity stood out otherwise; with z 5 a channel must be 6 times the median.
_DEVIATION_SPREAD = 0.15
_HF_SPREAD = 1.0
_HF_FREQ = 50.0
_WINDOWS_AT_ONCE = 60  # 1-s windows correlated at a time, to bound memory
_HF_MIN_SFREQ = 125.0  # a band above 50 Hz wide enough to measure
_LINE_FREQS = (50.0, 60.0)
# MNE's default cutoff of electrical distances for bridging, in µV².
_BRIDGE_CUTOFF_UV2 = 16.0

# Other auxiliary channels recognised by name (matched case-insensitively).
_TYPE_PATTERNS = [
    ("ecg", re.compile(r"(^|[\s_-])(ecg|ekg)", re.I)),
    ("eog", re.compile(r"(^|[\s_-])[vhlr]?eog|^(loc|roc)$", re.I)),
    ("emg", re.compile(r"(^|[\s_-])emg", re.I)),
    # Photoplethysmogram / blood volume pulse (MNE has no PPG type).
    (PPG_TYPE, re.compile(r"(^|[\s_-])(ppg|bvp|pleth)", re.I)),
    # Reference pairs (A2-A1, M1-M2) and physiological channels are not scalp sites.
    ("misc", re.compile(r"(^|\s)[am][12]\s*-\s*[am][12]$", re.I)),
    ("misc", re.compile(r"(^|[\s_-])(resp|sao2|spo2|pulse|temp|gsr|eda|dc\d+|photic)", re.I)),
]


@dataclasses.dataclass
class ChannelsConfig:
    """How channel names, types and positions are made consistent."""

    montage: str = option(
        "standard_1020",
        help="Electrode positions: a name from mne.channels.get_builtin_montages() "
        "(case-insensitive) or a montage file read by mne.channels.read_custom_montage.",
    )
    rename: dict[str, str] = option(
        {}, help='Explicit renames applied first, e.g. {"Chan 1" = "Fp1"}.'
    )
    strip_prefixes: list[str] = option(
        DEFAULT_PREFIXES,
        help="Prefixes removed from channel names (case-insensitive) when the rest is a "
        "montage channel.",
    )
    strip_suffixes: list[str] = option(
        ["-Ref", "-LE", "-RE", "-AR", "-AVG", "-A1", "-A2", "-M1", "-M2", "-A1A2", "."],
        help="Suffixes removed (case-insensitive, repeatedly) when the rest is a montage "
        "channel, e.g. 'EEG Fp1-Ref' -> 'Fp1', 'Fz..' -> 'Fz'.",
    )
    min_channels: int = option(
        8, help="Fail a recording with fewer EEG channels that have a position in the montage."
    )
    min_positioned_fraction: float = option(
        0.5,
        help="Fail a recording when a smaller fraction of its EEG channels match montage "
        "names: the matches are then likely coincidental (BioSemi A1..D32, numbered names).",
    )
    flat_uv: float = option(
        1.0,
        help="An EEG channel is flat when its peak-to-peak amplitude is below this many µV "
        "in more than half of its 1-s windows; flat channels are interpolated from the "
        "others (0: no check).",
    )
    max_bad_fraction: float = option(
        _DEFAULT_MAX_BAD_FRACTION,
        help="Fail a recording when more than this fraction of its EEG channels are bad: "
        "flat, with poor contact, noisy or bridged (or fewer than min_channels are not).",
    )
    max_flat_fraction: float | None = option(
        None, help="Former name of max_bad_fraction, still accepted."
    )
    poor_contact_fraction: float = option(
        0.9,
        help="An EEG channel whose contact-quality channel (Emotiv CQ_AF3 for AF3, ...) reads "
        "poor, at most half its full scale (Emotiv levels 0-2 of 4), in at least this "
        "fraction of the samples is marked bad and interpolated from the others (0: no check).",
    )
    noisy: bool = option(
        True,
        help="Mark bad and interpolate noisy EEG channels (criteria noisy_*, after PREP), "
        "looked for on a 1 Hz high-passed copy of recordings of at least 10 s with at "
        "least 6 EEG channels.",
    )
    noisy_deviation_z: float = option(
        5.0,
        help="A channel is noisy when the robust z-score of its amplitude (interquartile "
        "range / 1.349) across channels exceeds this in absolute value (0: criterion off).",
    )
    noisy_correlation: float = option(
        0.3,
        help="A channel is noisy when its largest absolute correlation with any other "
        "channel is below this in more than noisy_correlation_fraction of 1-s windows "
        "(PREP uses 0.4 for dense caps; 0: criterion off).",
    )
    noisy_correlation_fraction: float = option(
        0.4, help="Fraction of 1-s windows for noisy_correlation (PREP uses 0.01)."
    )
    noisy_hf_z: float = option(
        5.0,
        help="A channel is noisy when the robust z-score of its amplitude above 50 Hz "
        "relative to its whole amplitude (power-line frequencies left out) exceeds this; "
        "needs a sampling rate above 125 Hz (0: criterion off).",
    )
    bridged: bool = option(
        True,
        help="Find bridged electrodes (mne.preprocessing.compute_bridged_electrodes, on "
        "recordings of at least 10 s) and interpolate them through a virtual channel at "
        "the centre of each bridged group (mne.preprocessing.interpolate_bridged_electrodes).",
    )
    drop: list[str] = option([], help="Channels to drop (case-insensitive names).")
    eog: list[str] = option([], help="Channels to treat as EOG whatever their name.")
    ecg: list[str] = option([], help="Channels to treat as ECG whatever their name.")
    emg: list[str] = option([], help="Channels to treat as EMG whatever their name.")
    ppg: list[str] = option(
        [],
        help="Channels to treat as PPG (photoplethysmogram, blood volume pulse) whatever "
        "their name; typed 'bio' in MNE.",
    )

    def __post_init__(self) -> None:
        if isinstance(self.min_channels, bool) or not isinstance(self.min_channels, int):
            raise ConfigError(f"min_channels: expected an integer, got {self.min_channels!r}")
        if self.min_channels < 1:
            raise ConfigError(f"min_channels: expected at least 1, got {self.min_channels}")
        if not 0.0 <= self.min_positioned_fraction <= 1.0:
            raise ConfigError(
                "min_positioned_fraction: expected a number from 0 to 1, "
                f"got {self.min_positioned_fraction!r}"
            )
        if not self.flat_uv >= 0.0:
            raise ConfigError(f"flat_uv: expected a number of µV >= 0, got {self.flat_uv!r}")
        key = "max_bad_fraction"
        if self.max_flat_fraction is not None:  # the former name: moved to the new one
            if self.max_bad_fraction != _DEFAULT_MAX_BAD_FRACTION:
                raise ConfigError(
                    "max_flat_fraction: former name of max_bad_fraction; set only max_bad_fraction"
                )
            key, self.max_bad_fraction = "max_flat_fraction", self.max_flat_fraction
            self.max_flat_fraction = None
        if not 0.0 <= self.max_bad_fraction <= 1.0:
            raise ConfigError(
                f"{key}: expected a number from 0 to 1, got {self.max_bad_fraction!r}"
            )
        for name in ("noisy_deviation_z", "noisy_hf_z"):
            if not getattr(self, name) >= 0.0:
                raise ConfigError(f"{name}: expected a number >= 0, got {getattr(self, name)!r}")
        if not 0.0 <= self.noisy_correlation <= 1.0:
            raise ConfigError(
                f"noisy_correlation: expected a number from 0 to 1, got {self.noisy_correlation!r}"
            )
        if not 0.0 < self.noisy_correlation_fraction < 1.0:
            raise ConfigError(
                "noisy_correlation_fraction: expected a number between 0 and 1, "
                f"got {self.noisy_correlation_fraction!r}"
            )
        if not 0.0 <= self.poor_contact_fraction <= 1.0:
            raise ConfigError(
                "poor_contact_fraction: expected a number from 0 to 1, "
                f"got {self.poor_contact_fraction!r}"
            )
        if not (isinstance(self.montage, str) and self.montage.lower() in _MONTAGE_ALIASES):
            resolve_montage(self.montage)  # imports MNE: skipped for the usual template names


def resolve_montage(spec: str) -> str:
    """Check a montage name or file and return its canonical form.

    Parameters
    ----------
    spec : str
        A built-in montage name (case-insensitive; the ``standard_*`` names of older MNE
        versions are accepted) or the path of a montage file.

    Returns
    -------
    name : str
        The built-in name as MNE spells it, or the path as given.

    Raises
    ------
    ConfigError
        If ``spec`` is neither a built-in montage nor an existing file.
    """
    import mne

    if not isinstance(spec, str) or not spec:
        raise ConfigError(f"montage: expected a montage name or file, got {spec!r}")
    builtin = {name.lower(): name for name in mne.channels.get_builtin_montages()}
    key = spec.lower()
    if key in builtin:
        return builtin[key]
    if key in _MONTAGE_ALIASES and _MONTAGE_ALIASES[key] in builtin:
        return key
    if Path(spec).is_file():
        return spec
    raise ConfigError(
        f"montage: {spec!r} is neither a built-in montage nor an existing file; built-in: "
        f"standard_1020, standard_1005, {', '.join(sorted(builtin.values()))}"
    )


@functools.lru_cache(maxsize=8)
def _load_montage(spec: str) -> mne.channels.DigMontage:
    import mne

    name = resolve_montage(spec)
    builtin = {m.lower() for m in mne.channels.get_builtin_montages()}
    if name.lower() in builtin:
        return mne.channels.make_standard_montage(name)
    if name in _MONTAGE_ALIASES:
        return mne.channels.make_standard_montage(_MONTAGE_ALIASES[name])
    try:
        return mne.channels.read_custom_montage(name)
    except Exception as exc:  # the readers raise ValueError, KeyError, IndexError, ...
        raise ConfigError(f"montage file {name}: cannot read it ({exc})") from None


def load_montage(spec: str) -> mne.channels.DigMontage:
    """Return the montage named by ``spec`` (see :func:`resolve_montage`), cached per process.

    Parameters
    ----------
    spec : str
        Built-in montage name or montage file.

    Returns
    -------
    montage : mne.channels.DigMontage
        A copy the caller may modify.
    """
    return _load_montage(spec).copy()


def _strip_affix(name: str, affixes: list[str], prefix: bool) -> str | None:
    low = name.lower()
    for affix in sorted(affixes, key=len, reverse=True):
        a = affix.lower()
        if a and len(low) > len(a) and (low.startswith(a) if prefix else low.endswith(a)):
            return name[len(a) :] if prefix else name[: -len(a)]
    return None


def _candidates(name: str, config: ChannelsConfig) -> list[str]:
    """Names ``name`` may stand for, most literal first."""
    out = [name.strip()]
    stripped = _strip_affix(out[0], config.strip_prefixes, prefix=True)
    if stripped is not None:
        out.append(stripped.strip())
    for base in list(out):
        current = base
        while (current := _strip_affix(current, config.strip_suffixes, prefix=False)) is not None:
            current = current.strip()
            out.append(current)
    return out


def _montage_name(name: str, lookup: dict[str, str], config: ChannelsConfig) -> str | None:
    for cand in _candidates(name, config):
        modern = LEGACY_NAMES.get(cand.upper())
        for guess in (modern, cand):
            if guess is not None and guess.lower() in lookup:
                return lookup[guess.lower()]
    return None


def _recognise(name: str, config: ChannelsConfig | None) -> tuple[str, str | None] | None:
    """The type of an auxiliary channel named ``name`` and, when :data:`HEADSET_CHANNELS`
    recognised it, what it is (``"Emotiv contact quality"``); ``None`` for a scalp name."""
    prefixes = config.strip_prefixes if config is not None else DEFAULT_PREFIXES
    names = [name.strip()]
    stripped = _strip_affix(names[0], prefixes, prefix=True)
    if stripped is not None:
        names.append(stripped.strip())
    for what, ch_type, pattern in _HEADSET_PATTERNS:
        if any(pattern.fullmatch(n) for n in names):
            return ch_type, what
    for ch_type, pattern in _TYPE_PATTERNS:
        if any(pattern.search(n) for n in names):
            return ch_type, None
    return None


def channel_type_from_name(name: str, config: ChannelsConfig | None = None) -> str | None:
    """Guess the type of an auxiliary channel from its name.

    Parameters
    ----------
    name : str
        Channel name, e.g. ``"ECG ECG"``, ``"EEG A2-A1"``, ``"Status"``, ``"VEOG"``, or an
        auxiliary channel of a consumer headset (:data:`HEADSET_CHANNELS`: ``"CQ_AF3"``,
        ``"GYROX"``, ``"Right AUX"``, ``"Accel Channel 0"``, ...).
    config : ChannelsConfig | None
        Used to strip prefixes and suffixes before matching.

    Returns
    -------
    ch_type : str | None
        ``"stim"``, ``"ecg"``, ``"eog"``, ``"emg"``, ``"bio"`` (a PPG: ``PPG``, ``BVP``,
        ``Pleth``) or ``"misc"``; ``None`` for a name that looks like a scalp channel.
    """
    found = _recognise(name, config)
    return None if found is None else found[0]


def _source_name(raw: mne.io.BaseRaw) -> str:
    filenames = [Path(f) for f in getattr(raw, "filenames", ()) if f]
    if not filenames:
        return "recording"
    data_file = filenames[0]
    # BrainVision and EEGLAB report their data file; the user named the header.
    for header in (data_file.with_suffix(".vhdr"), data_file.with_suffix(".set")):
        if data_file.suffix.lower() in (".eeg", ".fdt", ".dat") and header.is_file():
            return header.name
    return data_file.name


def _listing(names: list[str], limit: int = 12) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f", ... ({len(names)} in all)" if len(names) > limit else "")


def _has_position(ch: dict) -> bool:
    import numpy as np

    pos = ch["loc"][:3]
    return bool(np.all(np.isfinite(pos)) and np.any(pos != 0))


def _duplicates(names: list[str]) -> dict[str, list[str]]:
    """Channel names a file holds more than once, with the names MNE read them as.

    MNE reads a name found ``n`` times as ``name-0`` ... ``name-<n-1>``.
    """
    numbered: dict[str, list[tuple[int, str]]] = {}
    for name in names:
        match = re.fullmatch(r"(.+)-(\d+)", name)
        if match:
            numbered.setdefault(match.group(1), []).append((int(match.group(2)), name))
    return {
        base: [name for _, name in sorted(copies)]
        for base, copies in numbered.items()
        if base not in names
        and len(copies) > 1
        and sorted(i for i, _ in copies) == list(range(len(copies)))
    }


def _flat_channels(raw: mne.io.BaseRaw, picks: list[int], flat_uv: float) -> list[str]:
    """The channels of ``picks`` below ``flat_uv`` µV peak-to-peak in most 1-s windows."""
    import numpy as np

    n = max(1, min(raw.n_times, round(raw.info["sfreq"])))
    flat = []
    for i in picks:  # one channel at a time: a full copy would double the memory
        data = raw.get_data(picks=[i])[0, : raw.n_times // n * n].reshape(-1, n)
        if np.median(np.ptp(data, axis=1)) * 1e6 < flat_uv:
            flat.append(raw.ch_names[i])
    return flat


def prepare_channels(
    raw: mne.io.BaseRaw, config: ChannelsConfig | None = None
) -> tuple[mne.io.BaseRaw, dict[str, Any]]:
    """Make channel names, types and positions consistent; keep what can be used.

    Steps, in order: drop the channels listed in ``config.drop``; apply
    ``config.rename``; type auxiliary channels (forced by ``config.eog`` / ``ecg`` /
    ``emg`` / ``ppg``, else by name: ``ECG*``, ``*EOG*``, ``EMG*``, ``PPG``/``BVP``/
    ``Pleth``, reference pairs such as ``A2-A1``, and the auxiliary channels of consumer
    headsets and trigger channels of :data:`HEADSET_CHANNELS`, which are set aside:
    contact quality, motion sensors, counters typed ``misc``, ``Status``/``STI 014``/
    ``MARKER`` typed ``stim``); map the remaining EEG channels onto the montage's names
    (prefixes/suffixes stripped, ``T3``->``T7`` ..., case-insensitive); read the
    contact-quality channels (``CQ_<site>``, see ``config.poor_contact_fraction``); set
    the montage; drop EEG channels without a position and every channel that is neither
    EEG nor EOG/ECG/EMG/PPG/stim; check the samples are finite; mark bad the flat EEG
    channels (see ``config.flat_uv``), those with poor contact, the noisy ones (see
    ``config.noisy``: amplitude deviation, low correlation, high-frequency noise) and
    replace them by spherical-spline interpolation from the others; then replace the
    bridged channels (see ``config.bridged``) through a virtual channel at the centre of
    each bridged group (:func:`mne.preprocessing.interpolate_bridged_electrodes`). This
    all happens before any filter or re-reference. Channels whose name the file holds
    more than once (which MNE reads as ``name-0``, ``name-1``, ...) are dropped first,
    unless ``config.rename`` or ``config.drop`` names them: which is which is unknown.

    When the EEG cannot be used (no EEG channel, too few with a position, too many
    bad) but the recording has an ECG or PPG channel that is not
    flat, its EEG channels are dropped and the rest kept, for the heart signal alone:
    ``report["eeg_unusable"]`` says why.

    Parameters
    ----------
    raw : mne.io.BaseRaw
        A preloaded recording; modified in place.
    config : ChannelsConfig | None
        Defaults to :class:`ChannelsConfig()`.

    Returns
    -------
    raw : mne.io.BaseRaw
        The same object, holding positioned EEG channels plus EOG/ECG/EMG/stim and PPG
        (typed ``bio``).
    report : dict
        ``renamed`` {old: new}, ``types_set`` {name: type}, ``dropped`` [names],
        ``dropped_no_position`` [names], ``duplicates`` {name: [names as read]},
        ``set_aside`` {name: what it was recognised as, e.g. ``"Emotiv contact
        quality"``}, ``contact_quality`` (the contact-quality channels read and the rule
        applied, or None: see :func:`_contact_quality`), ``n_eeg`` int (0 for the heart
        signal alone), ``montage`` str, ``eeg_unusable`` (why the
        EEG was dropped, or None), and ``notes``: one line for each of these a user
        should know about (duplicates, channels set aside, flat channels, channels with
        poor contact, noisy or bridged channels, a heart signal processed alone).
        Bad channels: ``flat`` and ``poor_contact`` [names], ``noisy`` {name: criteria of
        :data:`NOISY_CRITERIA` met}, ``bridged`` [[name, name], ...], ``bad`` {name: why}
        for every channel interpolated, and ``bad_rules`` {check: its rule in words, or
        why it was off or not applied} for the checks ``flat``, ``poor_contact``,
        ``deviation``, ``correlation``, ``hf_noise`` and ``bridged``.

    Raises
    ------
    RecordingError
        Stage ``"channels"`` when, without an ECG or PPG channel that carries a signal,
        there are no EEG channels, fewer than ``config.min_channels`` with a position,
        or more than ``config.max_bad_fraction`` of them (or all but fewer than
        ``config.min_channels``) bad; stage ``"read"`` when a kept channel holds NaN or
        infinite samples.
    """
    import numpy as np

    from .bids import sidecar_facts

    config = config if config is not None else ChannelsConfig()
    source = _source_name(raw)
    bids = sidecar_facts(raw)
    montage_name = resolve_montage(config.montage)
    montage = load_montage(config.montage)
    lookup = {name.lower(): name for name in montage.ch_names}

    drop_set = {n.lower() for n in config.drop}
    dropped = [n for n in raw.ch_names if n.lower() in drop_set]
    if dropped:
        raw.drop_channels(dropped)

    renamed: dict[str, str] = {}
    explicit = {old: new for old, new in config.rename.items() if old in raw.ch_names}
    if explicit:
        final = [explicit.get(n, n) for n in raw.ch_names]
        clashes = sorted({n for n in final if final.count(n) > 1})
        if clashes:
            raise RecordingError(
                "channels",
                f"{source}: channels.rename gives several channels the name {', '.join(clashes)}",
            )
        raw.rename_channels(explicit)
        renamed.update(explicit)

    notes = []
    duplicates = _duplicates(list(raw.ch_names))
    for name, copies in duplicates.items():
        raw.drop_channels(copies)
        notes.append(
            f"channel name {name} appears {len(copies)} times (read as {', '.join(copies)}): "
            "dropped, as which is which is unknown; keep one with channels.rename and "
            "channels.drop"
        )

    forced = {}
    for key, ch_type in (("eog", "eog"), ("ecg", "ecg"), ("emg", "emg"), ("ppg", PPG_TYPE)):
        forced.update({n.lower(): ch_type for n in getattr(config, key)})
    original = {new: old for old, new in renamed.items()}
    types_set: dict[str, str] = {}
    set_aside: dict[str, str] = {}
    ppg = set()
    for name, current in zip(raw.ch_names, raw.get_channel_types(), strict=True):
        ch_type = forced.get(name.lower()) or forced.get(original.get(name, name).lower())
        if ch_type is None and current in ("eeg", "misc", PPG_TYPE):
            by_name, what = _recognise(name, config) or (None, None)
            # A file's own misc and bio channels are kept only when their name says PPG.
            ch_type = by_name if current == "eeg" or by_name == PPG_TYPE else None
            if current == "eeg" and what is not None:
                set_aside[name] = what
        if ch_type == PPG_TYPE:
            ppg.add(name)
        if ch_type is not None and ch_type != current:
            types_set[name] = ch_type
    if types_set:
        raw.set_channel_types(types_set, on_unit_change="ignore", verbose="error")
    if set_aside:
        notes.append(_set_aside_note(set_aside, types_set))

    types = raw.get_channel_types()
    taken = set(raw.ch_names)
    to_montage: dict[str, str] = {}
    for name, ch_type in zip(raw.ch_names, types, strict=True):
        if ch_type != "eeg":
            continue
        target = _montage_name(name, lookup, config)
        if target is not None and target != name and target not in taken:
            to_montage[name] = target
            taken.add(target)
    if to_montage:
        raw.rename_channels(to_montage)
        for old, new in to_montage.items():
            renamed[original.get(old, old)] = new

    # Before the contact-quality channels go with the other channels that are not kept.
    contact, poor = _contact_quality(raw, config, lookup, notes)

    kept_types = ("eeg", *AUX_TYPES)
    other = [
        n
        for n, t in zip(raw.ch_names, types, strict=True)
        if t not in kept_types or (t == PPG_TYPE and n not in ppg)
    ]
    if other:
        raw.drop_channels(other)
        dropped += other
    heart = [n for n, t in zip(raw.ch_names, raw.get_channel_types(), strict=True)
             if t in HEART_TYPES]  # fmt: skip
    # A heart channel without signal cannot stand in for the EEG.
    live = [n for n in heart if np.nanstd(raw.get_data(picks=[n])) >= FLAT_STD_V]

    eeg_unusable = None
    unpositioned: list[str] = []
    n_eeg = 0
    try:
        if bids is not None and bids["electrodes"]:
            montage_name = "electrodes.tsv"
            unpositioned, n_eeg = _position_eeg(raw, config, None, montage_name)
        else:
            unpositioned, n_eeg = _position_eeg(raw, config, montage, montage_name)
    except _NoUsableEeg as exc:
        if not live:
            alone = "" if "eeg" in types else _no_heart_signal(heart)
            raise RecordingError("channels", f"{source}: {exc}{alone}") from None
        eeg_unusable = str(exc)
        _drop_eeg(raw)

    # One channel at a time: a full copy of a long recording would double its memory.
    bad = [n for i, n in enumerate(raw.ch_names) if not np.isfinite(raw.get_data(picks=[i])).all()]
    if bad:
        raise RecordingError(
            "read", f"{source}: contains NaN or infinite samples in channels {_listing(bad)}"
        )

    bad_channels: dict[str, Any] = {
        "flat": [], "poor_contact": [], "noisy": {}, "bridged": [], "bad": {}, "bad_rules": {}
    }  # fmt: skip
    if eeg_unusable is None:
        try:
            # Only the bad channels of a BIDS channels.tsv are honoured.
            marked = list(raw.info["bads"]) if bids is not None else []
            bad_channels = _replace_bad(raw, config, n_eeg, notes, poor, contact, marked)
        except _NoUsableEeg as exc:
            if not live:
                raise RecordingError("channels", f"{source}: {exc}") from None
            eeg_unusable, n_eeg = str(exc), 0
            _drop_eeg(raw)
    if eeg_unusable is not None:
        notes.append(
            f"heart channel{'s' if len(live) > 1 else ''} {', '.join(live)} processed "
            f"alone, without EEG: {eeg_unusable}"
        )

    report = {
        "renamed": renamed,
        "types_set": types_set,
        "dropped": dropped,
        "dropped_no_position": unpositioned,
        "duplicates": duplicates,
        "set_aside": set_aside,
        "contact_quality": contact,
        **bad_channels,
        "n_eeg": n_eeg,
        "montage": montage_name,
        "eeg_unusable": eeg_unusable,
        "notes": notes,
    }
    if bids is not None:
        report["bids"] = bids
    return raw, report


def _no_heart_signal(heart: list[str]) -> str:
    """Why a recording without EEG channels cannot be processed for its heart signal."""
    if not heart:
        return ", and no ECG or PPG channel to process alone"
    if len(heart) == 1:
        return f", and its heart channel {heart[0]} is flat"
    return f", and its heart channels {', '.join(heart)} are flat"


def _drop_eeg(raw: mne.io.BaseRaw) -> None:
    types = raw.get_channel_types()
    raw.drop_channels([n for n, t in zip(raw.ch_names, types, strict=True) if t == "eeg"])


class _NoUsableEeg(Exception):
    """The EEG of a recording cannot be used (the message says why, without the file name)."""


def _position_eeg(
    raw: mne.io.BaseRaw,
    config: ChannelsConfig,
    montage: mne.channels.DigMontage | None,
    name: str,
) -> tuple[list[str], int]:
    """Set the montage, drop EEG channels without a position; the dropped and the kept count.

    With ``montage`` None the recording's own positions (from a BIDS ``electrodes.tsv``)
    are kept.

    Raises
    ------
    _NoUsableEeg
        When there is no EEG channel, fewer than ``config.min_channels`` have a position,
        or fewer than ``config.min_positioned_fraction`` of them.
    """
    if "eeg" not in raw.get_channel_types():
        raise _NoUsableEeg(f"no EEG channels (channels: {_listing(list(raw.ch_names)) or 'none'})")
    if montage is not None:
        raw.set_montage(montage, on_missing="ignore", verbose="error")
    eeg_idx = [i for i, t in enumerate(raw.get_channel_types()) if t == "eeg"]
    unpositioned = [raw.ch_names[i] for i in eeg_idx if not _has_position(raw.info["chs"][i])]
    positioned = [raw.ch_names[i] for i in eeg_idx if raw.ch_names[i] not in unpositioned]
    n_eeg = len(positioned)
    where = f"in montage {name}"
    if n_eeg < config.min_channels:
        detail = (
            f"unpositioned: {_listing(unpositioned)}. Set channels.montage, or map the names "
            "with channels.rename"
            if unpositioned
            else f"present: {_listing(positioned)}. Lower channels.min_channels to accept it"
        )
        raise _NoUsableEeg(
            f"only {n_eeg} EEG channels have positions {where} "
            f"(need at least {config.min_channels}); {detail}"
        )
    if n_eeg < config.min_positioned_fraction * len(eeg_idx):
        raise _NoUsableEeg(
            f"only {n_eeg} of {len(eeg_idx)} EEG channels match names {where} "
            f"({_listing(positioned, 6)}), fewer than channels.min_positioned_fraction = "
            f"{config.min_positioned_fraction}; the names probably follow another system "
            f"(unpositioned: {_listing(unpositioned, 6)}) and these matches are coincidental. "
            "Set channels.montage, or map the names with channels.rename"
        )
    if unpositioned:
        raw.drop_channels(unpositioned)
    return unpositioned, n_eeg


def _robust_z(values: np.ndarray, min_spread: float) -> np.ndarray:
    """Robust z-scores: distance to the median over 1.4826 median absolute deviations,
    the spread taken as at least ``min_spread`` times the median."""
    import numpy as np

    median = np.median(values)
    spread = max(1.4826 * np.median(np.abs(values - median)), min_spread * abs(median))
    return (values - median) / spread if spread > 0 else np.zeros_like(values)


def _deviating(data: np.ndarray, z_max: float, rules: dict[str, str]) -> np.ndarray:
    """Channels (rows) whose amplitude is far from the others'
    (``channels.noisy_deviation_z``)."""
    import numpy as np

    if z_max == 0:
        rules["deviation"] = "off (channels.noisy_deviation_z = 0)"
        return np.zeros(len(data), bool)
    # One channel at a time, as below: a long recording's copies would add up.
    amplitude = np.array([np.subtract(*np.percentile(row, [75, 25])) for row in data]) / 1.349
    rules["deviation"] = (
        f"robust z-score of the amplitude (interquartile range / 1.349) across channels "
        f"beyond ±{z_max:g}, its spread at least {_DEVIATION_SPREAD:.0%} of the median"
    )
    return np.abs(_robust_z(amplitude, _DEVIATION_SPREAD)) > z_max


def _uncorrelated(
    data: np.ndarray, sfreq: float, config: ChannelsConfig, rules: dict[str, str]
) -> np.ndarray:
    """Channels (rows) correlated with no other in many 1-s windows
    (``channels.noisy_correlation``).

    Not applied when most channels meet the rule: the montage then holds no signal common
    to neighbouring channels that the rule could miss.
    """
    import numpy as np

    threshold, fraction = config.noisy_correlation, config.noisy_correlation_fraction
    none = np.zeros(len(data), bool)
    if threshold == 0:
        rules["correlation"] = "off (channels.noisy_correlation = 0)"
        return none
    n = round(sfreq)
    n_windows = data.shape[1] // n
    diagonal = np.arange(len(data))
    low = np.zeros(len(data))  # per channel, the windows where it meets the rule
    for start in range(0, n_windows, _WINDOWS_AT_ONCE):
        stop = min(start + _WINDOWS_AT_ONCE, n_windows)
        windows = data[:, start * n : stop * n].reshape(len(data), stop - start, n)
        windows = windows.transpose(1, 0, 2) - windows.mean(axis=2).T[:, :, None]
        cov = windows @ windows.transpose(0, 2, 1)  # (window, channel, channel)
        sd = np.sqrt(np.einsum("wcc->wc", cov))
        with np.errstate(divide="ignore", invalid="ignore"):
            corr = np.abs(cov / (sd[:, :, None] * sd[:, None, :]))
        corr = np.nan_to_num(corr)  # a channel flat in a window correlates with nothing there
        corr[:, diagonal, diagonal] = 0.0
        low += (corr.max(axis=2) < threshold).sum(axis=0)
    low /= n_windows
    rule = (
        f"largest absolute correlation with another channel below {threshold:g} in more "
        f"than {fraction:.0%} of 1-s windows"
    )
    if np.median(low) > fraction:
        rules["correlation"] = (
            f"not applied: most channels meet it ({rule}; the median channel in "
            f"{np.median(low):.0%}): they share no signal, as in white noise or a very "
            "sparse montage"
        )
        return none
    rules["correlation"] = rule
    return low > fraction


def _high_frequency_noise(
    data: np.ndarray, sfreq: float, z_max: float, rules: dict[str, str]
) -> np.ndarray:
    """Channels (rows) with much more amplitude above 50 Hz than the others
    (``channels.noisy_hf_z``)."""
    import numpy as np

    none = np.zeros(len(data), bool)
    if z_max == 0:
        rules["hf_noise"] = "off (channels.noisy_hf_z = 0)"
        return none
    if sfreq <= _HF_MIN_SFREQ:
        rules["hf_noise"] = f"not applied: sampling rate {sfreq:g} Hz, at most {_HF_MIN_SFREQ:g} Hz"
        return none
    # Power spectra averaged over Hann-tapered 1-s windows (Welch without overlap).
    n = round(sfreq)
    taper = np.hanning(n)
    psd = np.zeros((len(data), n // 2 + 1))
    for start in range(0, data.shape[1] // n, _WINDOWS_AT_ONCE):
        windows = data[:, start * n : (start + _WINDOWS_AT_ONCE) * n]
        windows = windows[:, : windows.shape[1] // n * n].reshape(len(data), -1, n)
        psd += (np.abs(np.fft.rfft(windows * taper, axis=2)) ** 2).sum(axis=1)
    freqs = np.fft.rfftfreq(n, 1 / sfreq)
    line = np.zeros(freqs.shape, bool)
    for base in _LINE_FREQS:  # the site's power-line frequency is not known here: both
        line |= (freqs > base / 2) & (np.abs(freqs - base * np.round(freqs / base)) <= 2.0)
    kept = (freqs >= 1.0) & ~line
    total = psd[:, kept].sum(axis=1)
    high = psd[:, kept & (freqs > _HF_FREQ)].sum(axis=1)
    ratio = np.sqrt(np.divide(high, total, out=np.zeros_like(total), where=total > 0))
    rules["hf_noise"] = (
        f"robust z-score of the amplitude above {_HF_FREQ:g} Hz relative to the whole "
        f"(50 and 60 Hz and their harmonics ±2 Hz left out) above {z_max:g}, its spread at "
        "least the median"
    )
    return _robust_z(ratio, _HF_SPREAD) > z_max


def _noisy_channels(
    raw: mne.io.BaseRaw, picks: list[int], config: ChannelsConfig, rules: dict[str, str]
) -> dict[str, list[str]]:
    """The noisy channels of ``picks``, each with the criteria of :data:`NOISY_CRITERIA` it
    meets, on a 1 Hz high-passed copy; the rule of each criterion goes into ``rules``."""
    from mne.filter import filter_data

    reason = None
    if not config.noisy:
        reason = "off (channels.noisy = false)"
    elif raw.n_times < _MIN_CHECK_S * raw.info["sfreq"]:
        reason = f"not applied: recording shorter than {_MIN_CHECK_S:g} s"
    elif len(picks) < _MIN_COMPARED:
        reason = f"not applied: fewer than {_MIN_COMPARED} channels to compare"
    if reason is not None:
        rules.update(dict.fromkeys(NOISY_CRITERIA, reason))
        return {}
    sfreq = raw.info["sfreq"]
    data = filter_data(raw.get_data(picks=picks), sfreq, 1.0, None, copy=False, verbose="error")
    found = {
        "deviation": _deviating(data, config.noisy_deviation_z, rules),
        "correlation": _uncorrelated(data, sfreq, config, rules),
        "hf_noise": _high_frequency_noise(data, sfreq, config.noisy_hf_z, rules),
    }
    noisy = {}
    for k, i in enumerate(picks):
        criteria = [name for name, mask in found.items() if mask[k]]
        if criteria:
            noisy[raw.ch_names[i]] = criteria
    return noisy


def _bridged_pairs(
    raw: mne.io.BaseRaw, picks: list[int], config: ChannelsConfig, rules: dict[str, str]
) -> list[tuple[str, str]]:
    """Pairs of bridged channels among ``picks``; the rule goes into ``rules``.

    Channels with identical samples (a channel copied in the file) are bridged; the
    others are compared by :func:`mne.preprocessing.compute_bridged_electrodes`, unless
    the median electrical distance of all pairs is itself below its cutoff (amplitudes
    too small for an absolute cutoff to mean anything).
    """
    import hashlib

    import mne
    import numpy as np

    if not config.bridged:
        rules["bridged"] = "off (channels.bridged = false)"
        return []
    if raw.n_times < _MIN_CHECK_S * raw.info["sfreq"] or len(picks) < 2:
        rules["bridged"] = (
            f"not applied: recording shorter than {_MIN_CHECK_S:g} s"
            if len(picks) > 1
            else "not applied: fewer than 2 channels"
        )
        return []
    first: dict[bytes, int] = {}
    pairs = []
    for i in picks:  # one channel at a time
        digest = hashlib.sha256(raw.get_data(picks=[i]).tobytes()).digest()
        if digest in first:
            pairs.append((raw.ch_names[first[digest]], raw.ch_names[i]))
        else:
            first[digest] = i
    keep = sorted(first.values())
    rule = (
        f"electrical distance (variance of the difference, 0.5-30 Hz) below the local "
        f"minimum of its distribution under {_BRIDGE_CUTOFF_UV2:g} µV² in more than half of "
        "the 2-s epochs (mne.preprocessing.compute_bridged_electrodes)"
    )
    rules["bridged"] = f"identical samples, or {rule}" if pairs else rule
    if len(keep) < 2:
        return pairs
    eeg = mne.io.RawArray(raw.get_data(picks=keep), mne.pick_info(raw.info, keep), verbose="error")
    found, distance = mne.preprocessing.compute_bridged_electrodes(
        eeg, lm_cutoff=_BRIDGE_CUTOFF_UV2, verbose="error"
    )
    upper = np.triu_indices(len(keep), 1)
    typical = float(np.median(np.median(distance[:, upper[0], upper[1]], axis=0)))
    if typical < _BRIDGE_CUTOFF_UV2:
        rules["bridged"] = (
            f"not applied: the median electrical distance of all pairs, {typical:.3g} µV², is "
            f"below the cutoff of {_BRIDGE_CUTOFF_UV2:g} µV² (amplitudes too small)"
        )
        return pairs
    return pairs + [(eeg.ch_names[i], eeg.ch_names[j]) for i, j in found]


def _replace_bad(
    raw: mne.io.BaseRaw,
    config: ChannelsConfig,
    n_eeg: int,
    notes: list[str],
    poor_contact: list[str],
    contact: dict[str, Any] | None,
    marked: list[str] | None = None,
) -> dict[str, Any]:
    """Find the bad EEG channels and interpolate them, adding a note for each kind.

    In order: the channels of ``marked`` (bad in a BIDS ``channels.tsv``), flat
    channels (``config.flat_uv``), those with poor contact (of
    ``poor_contact``, still present), noisy channels among the others
    (``config.noisy``), then bridged channels among the rest (``config.bridged``).
    The first three kinds are replaced by spherical-spline interpolation from the good
    channels; then each group of bridged channels by interpolation through a virtual
    channel at its centre, which carries the group's mean signal
    (:func:`mne.preprocessing.interpolate_bridged_electrodes`).

    Returns
    -------
    record : dict
        ``flat`` and ``poor_contact`` (lists of channels), ``noisy`` {channel: criteria},
        ``bridged`` (pairs of channels), ``bad`` {channel: why, for every channel
        interpolated} and ``bad_rules`` {check: its rule in words, or why it did not run}.

    Raises
    ------
    _NoUsableEeg
        When too many are bad (``config.max_bad_fraction``, ``config.min_channels``).
    """
    import mne

    eeg_idx = [i for i, t in enumerate(raw.get_channel_types()) if t == "eeg"]
    eeg = [raw.ch_names[i] for i in eeg_idx]
    sidecar = [n for n in eeg if n in (marked or [])]
    eeg_idx = [i for i in eeg_idx if raw.ch_names[i] not in sidecar]
    flat = _flat_channels(raw, eeg_idx, config.flat_uv) if config.flat_uv > 0 else []
    poor = [n for n in eeg if n in poor_contact and n not in flat and n not in sidecar]
    flat_rule = f"peak-to-peak below {config.flat_uv:g} µV in most 1-s windows"
    if contact is not None:
        poor_rule = contact["rule"]
    elif config.poor_contact_fraction == 0:
        poor_rule = "off (channels.poor_contact_fraction = 0)"
    else:
        poor_rule = "not applied: no contact-quality channels"
    rules = {
        "flat": flat_rule if config.flat_uv > 0 else "off (channels.flat_uv = 0)",
        "poor_contact": poor_rule,
    }
    rest = [i for i in eeg_idx if raw.ch_names[i] not in flat and raw.ch_names[i] not in poor]
    noisy = _noisy_channels(raw, rest, config, rules)
    bridged = _bridged_pairs(raw, [i for i in rest if raw.ch_names[i] not in noisy], config, rules)
    partners: dict[str, list[str]] = {}
    for a, b in bridged:
        partners.setdefault(a, []).append(b)
        partners.setdefault(b, []).append(a)
    bad = {}
    for name in eeg:
        if name in sidecar:
            bad[name] = SIDECAR_BAD
        elif name in flat:
            bad[name] = "flat"
        elif name in poor:
            bad[name] = "poor contact"
        elif name in noisy:
            bad[name] = "noisy: " + ", ".join(NOISY_CRITERIA[c] for c in noisy[name])
        elif name in partners:
            bad[name] = "bridged with " + ", ".join(partners[name])
    record = {
        "flat": flat,
        "poor_contact": poor,
        "noisy": noisy,
        "bridged": [list(pair) for pair in bridged],
        "bad": bad,
        "bad_rules": rules,
    }
    if sidecar:
        record["sidecar_bad"] = sidecar
    if not bad:
        return record
    criteria = [c for c in NOISY_CRITERIA if any(c in found for found in noisy.values())]
    what = " or ".join(
        [*([f"are {SIDECAR_BAD}"] if sidecar else []),
         *([f"are flat ({flat_rule})"] if flat else []),
         *([f"have poor contact ({poor_rule})"] if poor else []),
         *([f"are noisy ({', '.join(NOISY_CRITERIA[c] for c in criteria)})"] if noisy else []),
         *(["are bridged"] if bridged else [])]
    )  # fmt: skip
    n_live = n_eeg - len(bad)
    if n_live == 0:
        signal = "no signal" if len(flat) == n_eeg else "no usable signal"
        raise _NoUsableEeg(f"all {n_eeg} EEG channels {what}: {signal}")
    if len(bad) > config.max_bad_fraction * n_eeg or n_live < config.min_channels:
        keys = [
            "max_bad_fraction",
            "min_channels",
            *(["poor_contact_fraction"] if poor else []),
            *(_NOISY_KEYS[c] for c in criteria),
        ]
        limits = [f"channels.{key} = {getattr(config, key):g}" for key in keys]
        limits += ["channels.bridged = true"] if bridged else []
        raise _NoUsableEeg(
            f"{len(bad)} of {n_eeg} EEG channels {what}: {_listing(list(bad))}; too few carry "
            f"a signal ({', '.join(limits)})"
        )
    plain = [name for name in bad if name not in partners]
    if plain:
        raw.info["bads"] = plain
        raw.interpolate_bads(reset_bads=True, verbose="error")
    if bridged:
        with mne.utils.use_log_level("error"):
            mne.preprocessing.interpolate_bridged_electrodes(
                raw,
                [(raw.ch_names.index(a), raw.ch_names.index(b)) for a, b in bridged],
                bad_limit=n_eeg,
            )
    others = f"interpolated from the other {n_eeg - len(plain)} EEG channels"
    if sidecar:
        notes.append(
            f"channel{'s' if len(sidecar) > 1 else ''} {', '.join(sidecar)} {SIDECAR_BAD} {others}"
        )
    if flat:
        notes.append(
            f"flat channel{'s' if len(flat) > 1 else ''} {', '.join(flat)} ({flat_rule}) {others}"
        )
    if poor:
        notes.append(
            f"channel{'s' if len(poor) > 1 else ''} {', '.join(poor)} with poor contact "
            f"({poor_rule}) marked bad and {others}"
        )
    if noisy:
        listed = ", ".join(
            f"{name} ({', '.join(NOISY_CRITERIA[c] for c in found)})"
            for name, found in noisy.items()
        )
        notes.append(
            f"noisy channel{'s' if len(noisy) > 1 else ''} {listed} marked bad and {others} "
            "(rules: channels.bad_rules in the provenance)"
        )
    if bridged:
        pairs = ", ".join(f"{a} and {b}" for a, b in bridged)
        notes.append(
            f"bridged channels {pairs} interpolated from the other {n_live} EEG channels and a "
            "virtual channel at the centre of each bridged group, carrying its mean "
            "(rule: channels.bad_rules in the provenance)"
        )
    return record


def _set_aside_note(set_aside: dict[str, str], types: dict[str, str]) -> str:
    """One line saying which channels were recognised as not EEG, as what, and their fate."""
    groups: dict[tuple[str, str], list[str]] = {}
    for name, what in set_aside.items():
        groups.setdefault((types[name], what), []).append(name)
    parts = []
    for ch_type, fate in (("misc", "dropped"), ("stim", "kept as trigger (stim) channel")):
        kept = {what: names for (t, what), names in groups.items() if t == ch_type}
        if kept:
            listed = ", ".join(f"{what} ({_listing(names)})" for what, names in kept.items())
            plural = "s" if ch_type == "stim" and sum(map(len, kept.values())) > 1 else ""
            parts.append(f"{listed} {fate}{plural}")
    n = len(set_aside)
    return (
        f"{n} channel{'s' if n > 1 else ''} recognised by name as not EEG: {'; '.join(parts)} "
        "(to keep one as EEG, rename it onto a scalp site with channels.rename)"
    )


def _contact_quality(
    raw: mne.io.BaseRaw, config: ChannelsConfig, lookup: dict[str, str], notes: list[str]
) -> tuple[dict[str, Any] | None, list[str]]:
    """Read the contact-quality channels (``CQ_<site>``) of the EEG channels.

    Values are compared with their full scale: the smallest of :data:`CONTACT_SCALES`
    that holds the largest value of all the recording's contact-quality channels
    (``CQ_CMS`` and ``CQ_DRL`` included), in the file's own units; larger values are
    their own scale. A sample is poor at or below :data:`POOR_CONTACT_LEVEL` of the
    full scale, and a channel poor in at least ``config.poor_contact_fraction`` of its
    (finite) samples is returned.

    Returns
    -------
    record : dict | None
        ``channels`` {EEG channel: its contact-quality channel}, ``full_scale``,
        ``poor_at_or_below``, ``poor_fraction`` {EEG channel: fraction of poor samples}
        and ``rule`` (in words); ``None`` without contact-quality channels for the EEG
        channels, with the check switched off, or when they hold no positive value (a
        note then says so).
    poor : list of str
        The EEG channels with poor contact, in channel order.
    """
    import numpy as np

    if config.poor_contact_fraction == 0:
        return None, []
    eeg = {n.lower(): n for n, t in zip(raw.ch_names, raw.get_channel_types(), strict=True)
           if t == "eeg"}  # fmt: skip
    quality = [n for n in raw.ch_names if n.lower() not in eeg and _CONTACT_CHANNEL.fullmatch(n)]
    pairs = {}
    for name in quality:
        site = _CONTACT_CHANNEL.fullmatch(name).group("site").strip()
        for guess in (_montage_name(site, lookup, config), site):
            if guess is not None and guess.lower() in eeg:
                pairs[eeg[guess.lower()]] = name
                break
    if not pairs:
        return None, []
    units = getattr(raw, "_orig_units", None) or {}  # EDF/BDF readers: as in the file

    def finite_values(name: str) -> np.ndarray:  # one channel at a time, in file units
        values = raw.get_data(picks=[name])[0] / _UNIT_SCALES.get(units.get(name, ""), 1.0)
        return values[np.isfinite(values)]

    top = max((float(v.max()) for v in map(finite_values, quality) if v.size), default=0.0)
    if not top > 0:
        notes.append(
            f"contact-quality channels {_listing(quality, 6)} hold no positive value: "
            "contact not checked"
        )
        return None, []
    # (1 + 1e-6): a full scale read in µV and multiplied back is not exact.
    scale = next((s for s in CONTACT_SCALES if top <= s * (1 + 1e-6)), top)
    level = POOR_CONTACT_LEVEL * scale
    fractions = {}
    for channel, name in pairs.items():
        values = finite_values(name)
        fractions[channel] = float(np.mean(values <= level)) if values.size else 0.0
    poor = [
        n for n in raw.ch_names if n in fractions and fractions[n] >= config.poor_contact_fraction
    ]
    record = {
        "channels": pairs,
        "full_scale": scale,
        "poor_at_or_below": level,
        "poor_fraction": {n: round(f, 4) for n, f in fractions.items()},
        "rule": f"contact quality at most {level:g} of {scale:g} in at least "
        f"{config.poor_contact_fraction * 100:g} % of samples",
    }
    return record, poor
