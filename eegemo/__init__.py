"""eegemo: emotion recognition research toolkit for EEG topomaps and facial expressions."""

__version__ = "0.1.0"
