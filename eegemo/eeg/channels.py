"""Channel hygiene: names, types and electrode positions of a raw recording.

Recordings name their channels in many ways (``EEG Fp1-Ref``, ``FP1``, ``T3``,
``EEG A2-A1``, ``ECG ECG``, ``Status``). :func:`prepare_channels` maps scalp channels
onto the names of a montage, gives auxiliary channels their proper MNE type (so ICA
can use the EOG, and the heart features the ECG or PPG), sets electrode positions, drops
what cannot be placed on the scalp, replaces flat EEG channels by interpolation and
reports every change for the provenance record. A recording without usable EEG but
with a heart channel is kept for its heart signal alone.
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

# Auxiliary channels recognised by name (matched case-insensitively on the whole name).
_TYPE_PATTERNS = [
    ("stim", re.compile(r"^(status|trigger|triggers|trig|events?|stim|sti ?\d*|markers?)$", re.I)),
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
    max_flat_fraction: float = option(
        0.25,
        help="Fail a recording when more than this fraction of its EEG channels are flat "
        "(or fewer than min_channels are not).",
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
        if not 0.0 <= self.max_flat_fraction <= 1.0:
            raise ConfigError(
                f"max_flat_fraction: expected a number from 0 to 1, got {self.max_flat_fraction!r}"
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


def channel_type_from_name(name: str, config: ChannelsConfig | None = None) -> str | None:
    """Guess the type of an auxiliary channel from its name.

    Parameters
    ----------
    name : str
        Channel name, e.g. ``"ECG ECG"``, ``"EEG A2-A1"``, ``"Status"``, ``"VEOG"``.
    config : ChannelsConfig | None
        Used to strip prefixes and suffixes before matching.

    Returns
    -------
    ch_type : str | None
        ``"stim"``, ``"ecg"``, ``"eog"``, ``"emg"``, ``"bio"`` (a PPG: ``PPG``, ``BVP``,
        ``Pleth``) or ``"misc"``; ``None`` for a name that looks like a scalp channel.
    """
    prefixes = config.strip_prefixes if config is not None else DEFAULT_PREFIXES
    names = [name.strip()]
    stripped = _strip_affix(names[0], prefixes, prefix=True)
    if stripped is not None:
        names.append(stripped.strip())
    for ch_type, pattern in _TYPE_PATTERNS:
        if any(pattern.search(n) for n in names):
            return ch_type
    return None


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
    ``Pleth``, ``Status``/``STI 014``/``Trigger``, reference pairs such as ``A2-A1``);
    map the remaining EEG channels onto the montage's names (prefixes/suffixes
    stripped, ``T3``->``T7`` ..., case-insensitive); set the montage; drop EEG channels
    without a position and every channel that is neither EEG nor EOG/ECG/EMG/PPG/stim;
    check the samples are finite; replace flat EEG channels (see ``config.flat_uv``) by
    spherical-spline interpolation from the others. Channels whose name the file holds
    more than once (which MNE reads as ``name-0``, ``name-1``, ...) are dropped first,
    unless ``config.rename`` or ``config.drop`` names them: which is which is unknown.

    When the EEG cannot be used (no EEG channel, too few with a position, too many
    flat) but the recording has an ECG or PPG channel that is not flat, its EEG
    channels are dropped and the rest kept, for the heart signal alone:
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
        ``flat`` [names interpolated], ``n_eeg`` int (0 for the heart signal alone),
        ``montage`` str, ``eeg_unusable`` (why the EEG was dropped, or None), and
        ``notes``: one line for each of these a user should know about (duplicates,
        flat channels, a heart signal processed alone).

    Raises
    ------
    RecordingError
        Stage ``"channels"`` when, without an ECG or PPG channel that carries a signal,
        there are no EEG
        channels, fewer than ``config.min_channels`` with a position, or more than
        ``config.max_flat_fraction`` of them (or all but fewer than
        ``config.min_channels``) flat; stage ``"read"`` when a kept channel holds NaN or
        infinite samples.
    """
    import numpy as np

    config = config if config is not None else ChannelsConfig()
    source = _source_name(raw)
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
    ppg = set()
    for name, current in zip(raw.ch_names, raw.get_channel_types(), strict=True):
        ch_type = forced.get(name.lower()) or forced.get(original.get(name, name).lower())
        if ch_type is None and current in ("eeg", "misc", PPG_TYPE):
            by_name = channel_type_from_name(name, config)
            # A file's own misc and bio channels are kept only when their name says PPG.
            ch_type = by_name if current == "eeg" or by_name == PPG_TYPE else None
        if ch_type == PPG_TYPE:
            ppg.add(name)
        if ch_type is not None and ch_type != current:
            types_set[name] = ch_type
    if types_set:
        raw.set_channel_types(types_set, on_unit_change="ignore", verbose="error")

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

    flat: list[str] = []
    if eeg_unusable is None:
        try:
            flat = _replace_flat(raw, config, n_eeg, notes)
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
        "flat": flat,
        "n_eeg": n_eeg,
        "montage": montage_name,
        "eeg_unusable": eeg_unusable,
        "notes": notes,
    }
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
    raw: mne.io.BaseRaw, config: ChannelsConfig, montage: mne.channels.DigMontage, name: str
) -> tuple[list[str], int]:
    """Set the montage, drop EEG channels without a position; the dropped and the kept count.

    Raises
    ------
    _NoUsableEeg
        When there is no EEG channel, fewer than ``config.min_channels`` have a position,
        or fewer than ``config.min_positioned_fraction`` of them.
    """
    if "eeg" not in raw.get_channel_types():
        raise _NoUsableEeg(f"no EEG channels (channels: {_listing(list(raw.ch_names)) or 'none'})")
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


def _replace_flat(
    raw: mne.io.BaseRaw, config: ChannelsConfig, n_eeg: int, notes: list[str]
) -> list[str]:
    """Interpolate the flat EEG channels (see ``config.flat_uv``), adding a note; return them.

    Raises
    ------
    _NoUsableEeg
        When too many are flat (``config.max_flat_fraction``, ``config.min_channels``).
    """
    eeg_idx = [i for i, t in enumerate(raw.get_channel_types()) if t == "eeg"]
    flat = _flat_channels(raw, eeg_idx, config.flat_uv) if config.flat_uv > 0 else []
    if not flat:
        return flat
    rule = f"peak-to-peak below {config.flat_uv:g} µV in most 1-s windows"
    n_live = n_eeg - len(flat)
    if n_live == 0:
        raise _NoUsableEeg(f"all {n_eeg} EEG channels are flat ({rule}): no signal")
    if len(flat) > config.max_flat_fraction * n_eeg or n_live < config.min_channels:
        raise _NoUsableEeg(
            f"{len(flat)} of {n_eeg} EEG channels are flat ({rule}): "
            f"{_listing(flat)}; too few carry a signal (channels.max_flat_fraction = "
            f"{config.max_flat_fraction:g}, channels.min_channels = {config.min_channels})"
        )
    raw.info["bads"] = flat
    raw.interpolate_bads(reset_bads=True, verbose="error")
    notes.append(
        f"flat channel{'s' if len(flat) > 1 else ''} {', '.join(flat)} ({rule}) "
        f"interpolated from the other {n_live} EEG channels"
    )
    return flat
