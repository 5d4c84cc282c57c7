"""Exceptions whose message is meant for the user, printed as one line without a traceback."""


class EegemoError(Exception):
    """Base class for errors the command line reports as a single clear line."""


class ConfigError(EegemoError):
    """A configuration file or ``--set`` override is invalid."""


class RecordingError(EegemoError):
    """A recording cannot be processed.

    Parameters
    ----------
    stage : str
        The processing stage that failed (``"read"``, ``"channels"``, ``"bandpass"``, ...).
    message : str
        What went wrong, phrased for the user.
    """

    def __init__(self, stage: str, message: str):
        super().__init__(message)
        self.stage = stage
        self.message = message
