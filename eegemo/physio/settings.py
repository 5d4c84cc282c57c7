"""The ``[physio]`` section of the preprocessing configuration."""

from __future__ import annotations

import dataclasses

from ..config import option
from .heart import HeartConfig


@dataclasses.dataclass
class PhysioConfig(HeartConfig):
    """Heart signals (ECG, PPG): heart rate and HRV around every epoch."""

    enabled: bool = option(
        True,
        "compute heart features for recordings with an ECG or PPG channel; false: the heart "
        "channel is ignored and a recording without usable EEG fails",
    )
