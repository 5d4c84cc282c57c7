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


def first_line(exc: BaseException, limit: int | None = None) -> str:
    """The first line of an exception's message (its type name when the message is empty).

    Parameters
    ----------
    exc : BaseException
        The exception.
    limit : int, optional
        Cut the line to at most this many characters (ending in ``...``).

    Returns
    -------
    line : str
    """
    text = str(exc).strip()
    line = text.splitlines()[0] if text else type(exc).__name__
    if limit is not None and len(line) > limit:
        line = line[: limit - 3] + "..."
    return line
