"""Preprocess a whole folder: discovery, resume, parallel workers, manifest and failures.

:func:`preprocess` is what ``eegemo preprocess`` runs. It finds the recordings,
skips those whose outputs are complete for the same configuration and input bytes,
fans the rest out with joblib (local processes, or a Dask cluster through joblib's
dask backend), and finally rebuilds ``OUT/manifest.csv`` and ``OUT/failures.csv``
from the provenance records, so a resumed run gives the same bytes as a clean one.
By default one failing recording never stops the others: workers return failure
records, and the full traceback of each failure goes to ``OUT/logs/<id>.log``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..atomic import atomic_open, remove_stale_temporaries, write_csv
from ..environment import versions
from ..errors import ConfigError, EegemoError, RecordingError
from ..integrity import sha256_file
from ..manifest import write_manifest
from .cache import cache_key, describe_inputs
from .io import Recording, discover
from .pipeline import process_recording, read_provenance
from .settings import PreprocessConfig

#: Columns of ``OUT/failures.csv``, one row per recording that could not be processed.
FAILURE_COLUMNS = ("recording", "stage", "error", "log")
BACKENDS = ("loky", "dask")
#: What a failing recording does to the batch (see :func:`preprocess`).
ON_ERROR = ("continue", "abort", "debug")
#: Folder under OUT holding the full traceback of each failed recording.
LOG_DIR = "logs"


@dataclasses.dataclass(frozen=True)
class Failure:
    """A recording that could not be processed.

    Attributes
    ----------
    recording : str
        The recording's file path.
    stage : str
        The step that failed (``"discover"``, ``"read"``, ``"channels"``, a stage name,
        ``"epochs"``, ...).
    error : str
        What went wrong, one line.
    log : str
        Path relative to OUT of the log holding the full traceback (``logs/<id>.log``);
        empty for a file that discovery could not assign.
    """

    recording: str
    stage: str
    error: str
    log: str = ""


@dataclasses.dataclass
class BatchResult:
    """What :func:`preprocess` did.

    Attributes
    ----------
    out_dir : Path
        The output folder.
    processed : list of str
        Ids of the recordings processed in this run.
    skipped : list of str
        Ids of the recordings already complete for this configuration.
    failures : list of Failure
        Recordings that could not be processed, sorted by path.
    n_epochs : int
        Rows of the manifest (epochs of every complete recording).
    removed_temporaries : int
        Temporary files of an interrupted earlier run that were deleted.
    not_processed : list of str
        Ids of the recordings left for a later run because ``on_error="abort"``
        stopped the batch.
    notes : list of str
        What the user should know although nothing failed, one line each: ids told
        apart because file names clash, symbolic link loops not followed, and the
        ``notes`` of each recording processed in this run (flat channels interpolated,
        duplicate channel names dropped, ...), prefixed with its id.
    """

    out_dir: Path
    processed: list[str]
    skipped: list[str]
    failures: list[Failure]
    n_epochs: int
    removed_temporaries: int = 0
    not_processed: list[str] = dataclasses.field(default_factory=list)
    notes: list[str] = dataclasses.field(default_factory=list)

    @property
    def manifest_path(self) -> Path:
        """``OUT/manifest.csv``."""
        return self.out_dir / "manifest.csv"

    @property
    def failures_path(self) -> Path:
        """``OUT/failures.csv``."""
        return self.out_dir / "failures.csv"

    @property
    def ok(self) -> bool:
        """True when no recording failed."""
        return not self.failures


def is_complete(
    out_dir: str | Path, recording: Recording, key: str, save_epochs: bool = False
) -> bool:
    """Whether ``recording`` has complete outputs for cache key ``key``.

    Complete means: its provenance exists, records the same key, and every output it
    lists exists with the recorded SHA-256; with ``save_epochs``, the epochs file is
    one of them.

    Parameters
    ----------
    out_dir : path-like
        The output folder.
    recording : Recording
        The recording.
    key : str
        Its current :func:`~eegemo.eeg.cache.cache_key`.
    save_epochs : bool
        Whether the epochs file (``OUT/clean/<id>-epo.fif``) is asked for.

    Returns
    -------
    complete : bool
    """
    out_dir = Path(out_dir)
    prov = read_provenance(out_dir, recording.id)
    if prov is None or prov.get("cache_key") != key:
        return False
    if save_epochs and "epochs" not in prov.get("outputs", {}):
        return False
    for entry in prov.get("outputs", {}).values():
        path = out_dir / entry["path"]
        if not path.is_file() or sha256_file(path) != entry["sha256"]:
            return False
    return True


_WATCHED_PARENT: list[int] = []


def _exit_with_parent(parent_pid: int) -> None:
    """End this worker process as soon as ``parent_pid`` (the batch) dies.

    Local worker processes otherwise outlive a killed batch and keep writing; with
    this, a SIGKILLed run stops at once, and the next run cleans its temporaries.
    """
    if _WATCHED_PARENT or os.getpid() == parent_pid or os.getppid() != parent_pid:
        return
    _WATCHED_PARENT.append(parent_pid)

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(0.2)
        os._exit(1)

    threading.Thread(target=watch, name="eegemo-parent-watch", daemon=True).start()


def log_path(recording_id: str) -> str:
    """Where the log of a failed recording lives, relative to OUT (POSIX)."""
    return f"{LOG_DIR}/{recording_id}.log"


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _original(exc: BaseException) -> BaseException:
    """The exception a :class:`~eegemo.errors.RecordingError` was raised from or while handling."""
    if isinstance(exc, RecordingError):
        return exc.__cause__ or exc.__context__ or exc
    return exc


def _traceback_text(exc: BaseException) -> str:
    """The tracebacks of ``exc`` and of the exceptions it came from, as Python prints them.

    Unlike Python, it also shows an exception hidden with ``raise ... from None`` (as
    eegemo does to keep messages to one line): a log is for finding the cause.
    """
    import traceback

    chain: list[BaseException] = []
    while exc is not None and all(exc is not seen for seen in chain):
        chain.insert(0, exc)
        exc = exc.__cause__ or exc.__context__
    parts = []
    for i, inner in enumerate(chain):
        if i:
            parts.append(
                "\nThe above exception was the direct cause of the following exception:\n\n"
                if inner.__cause__ is chain[i - 1]
                else "\nDuring handling of the above exception, another exception occurred:\n\n"
            )
        parts.append("".join(traceback.format_exception(inner, chain=False)))
    return "".join(parts)


def _failure(out_dir: Path, recording: Recording, exc: BaseException) -> Failure:
    """The failure record of ``exc``, with its full traceback written to the recording's log."""
    if isinstance(exc, RecordingError):
        stage, error = exc.stage, _one_line(exc.message)
    else:  # a bug in eegemo or a library: the log holds what is needed to fix it
        stage, error = "pipeline", _one_line(f"{type(exc).__name__}: {exc}")
    rel = log_path(recording.id)
    header = [
        f"recording: {recording.path}",
        f"stage: {stage}",
        f"error: {error}",
        "versions: " + ", ".join(f"{k} {v}" for k, v in versions("mne", "numpy", "scipy").items()),
    ]
    try:
        with atomic_open(out_dir / rel, "w", encoding="utf-8") as fh:
            fh.write("\n".join(header) + "\n\n" + _traceback_text(exc))
    except OSError:
        rel = ""
    return Failure(str(recording.path), stage, error, rel)


def run_one(
    recording: Recording,
    config: PreprocessConfig,
    out_dir: str | Path,
    inputs: list[dict[str, Any]],
    parent_pid: int | None = None,
    keep_clean: bool = True,
    save_epochs: bool = False,
) -> tuple[str, int | Failure]:
    """Process one recording in a worker; never raise.

    Math libraries are limited to one thread so results do not depend on ``jobs``
    (and workers do not oversubscribe the cores). A failure's full traceback is
    written to ``OUT/logs/<id>.log``; a log left by an earlier failure is removed first.

    Parameters
    ----------
    recording, config, out_dir, inputs, keep_clean, save_epochs
        As for :func:`~eegemo.eeg.pipeline.process_recording`.
    parent_pid : int, optional
        Process id of the batch; a worker process it started exits when it dies.

    Returns
    -------
    id : str
        The recording's id.
    result : int | Failure
        The number of epochs written, or the failure.
    """
    from threadpoolctl import threadpool_limits

    if parent_pid is not None:
        _exit_with_parent(parent_pid)
    out_dir = Path(out_dir)
    (out_dir / log_path(recording.id)).unlink(missing_ok=True)
    try:
        with threadpool_limits(limits=1):
            prov = process_recording(recording, config, out_dir, inputs, keep_clean, save_epochs)
        return recording.id, int(prov["epochs"]["kept"])
    except Exception as exc:  # a bug must not stop the batch; report it like bad input
        return recording.id, _failure(out_dir, recording, exc)


@contextlib.contextmanager
def _dask_backend(jobs: int, scheduler: str | None) -> Iterator[None]:
    try:
        import joblib
        from dask.distributed import Client, LocalCluster
    except ImportError:
        raise EegemoError(
            'backend "dask" needs dask and distributed: pip install "eegemo[dask]"'
        ) from None
    with contextlib.ExitStack() as stack:
        if scheduler:
            try:
                client = stack.enter_context(Client(scheduler, timeout="20s"))
            except OSError as exc:
                raise EegemoError(f"cannot reach the dask scheduler {scheduler}: {exc}") from None
        else:
            cluster = stack.enter_context(
                LocalCluster(
                    n_workers=jobs,
                    threads_per_worker=1,
                    processes=True,
                    dashboard_address=None,
                )
            )
            client = stack.enter_context(Client(cluster))
        del client  # registered as the default client; joblib's dask backend finds it
        stack.enter_context(joblib.parallel_config(backend="dask"))
        yield


Todo = list[tuple[Recording, list[dict[str, Any]]]]


def _run_parallel(
    todo: Todo,
    config: PreprocessConfig,
    out_dir: Path,
    results: list[tuple[str, int | Failure]],
    *,
    jobs: int,
    backend: str,
    scheduler: str | None,
    keep_clean: bool,
    save_epochs: bool,
    abort: bool,
    progress: bool,
) -> None:
    """Process ``todo`` in workers, appending ``(id, result)`` to ``results`` as they end.

    With ``abort``, the first failure stops the batch: no further recording starts and
    the workers still running are stopped (their recordings stay incomplete).
    """
    from joblib import Parallel, delayed
    from tqdm.auto import tqdm

    if not todo:
        return
    tasks = (
        delayed(run_one)(rec, config, out_dir, inputs, os.getpid(), keep_clean, save_epochs)
        for rec, inputs in todo
    )
    context = (
        _dask_backend(jobs, scheduler) if backend == "dask" else contextlib.nullcontext()
    )
    n_failed = 0
    with context, tqdm(
        total=len(todo), desc="preprocess", unit="rec", disable=None if progress else True,
        dynamic_ncols=True
    ) as bar:
        n_jobs = jobs if backend == "loky" else -1
        outputs = Parallel(n_jobs=n_jobs, return_as="generator_unordered")(tasks)
        try:
            for rid, result in outputs:
                results.append((rid, result))
                n_failed += isinstance(result, Failure)
                bar.set_postfix(failed=n_failed, refresh=False)
                bar.update()
                if abort and isinstance(result, Failure):
                    break
        finally:
            with warnings.catch_warnings():
                # Closing the generator early cancels the running tasks; joblib warns.
                warnings.simplefilter("ignore")
                outputs.close()


def _run_in_process(
    todo: Todo,
    config: PreprocessConfig,
    out_dir: Path,
    results: list[tuple[str, int | Failure]],
    *,
    keep_clean: bool,
    save_epochs: bool,
    progress: bool,
) -> None:
    """Process ``todo`` one at a time in this process; the first failure propagates.

    The failure is recorded (and logged) like in a worker, then the exception the
    failing code raised is re-raised, not the :class:`~eegemo.errors.RecordingError`
    that wraps it, so a post-mortem debugger stops at the failing line.
    """
    from threadpoolctl import threadpool_limits
    from tqdm.auto import tqdm

    for rec, inputs in tqdm(
        todo, desc="preprocess", unit="rec", disable=None if progress else True,
        dynamic_ncols=True
    ):
        (out_dir / log_path(rec.id)).unlink(missing_ok=True)
        error = None
        try:
            with threadpool_limits(limits=1):
                prov = process_recording(rec, config, out_dir, inputs, keep_clean, save_epochs)
        except Exception as exc:
            error = exc
        if error is None:
            results.append((rec.id, int(prov["epochs"]["kept"])))
            continue
        results.append((rec.id, _failure(out_dir, rec, error)))
        # Raised outside the except clause, the original exception propagates alone,
        # with the traceback down to the line that failed.
        raise _original(error)


def _manifest_rows(
    out_dir: Path, recordings: list[Recording], keys: dict[str, str]
) -> list[dict[str, Any]]:
    """Epochs of the recordings whose provenance is there for their current key.

    A recording processed for its heart signal alone has no topomaps or band power:
    its rows have an empty ``path`` and ``bandpower_path``, and a ``physio_path``.
    """
    rows = []
    for rec in sorted(recordings, key=lambda r: (r.subject, r.id)):
        prov = read_provenance(out_dir, rec.id)
        if prov is None or rec.id not in keys or prov.get("cache_key") != keys[rec.id]:
            continue
        outputs, epochs = prov["outputs"], prov["epochs"]
        pairs = zip(epochs["onsets_s"], epochs["labels"], strict=True)
        for index, (onset, label) in enumerate(pairs):
            rows.append(
                {
                    "subject": rec.subject,
                    "recording": rec.id,
                    "label": "" if label is None else label,
                    "path": outputs.get("topomaps", {}).get("path", ""),
                    "index": index,
                    "bandpower_path": outputs.get("bandpower", {}).get("path", ""),
                    "onset_s": f"{onset:.3f}",
                    "physio_path": outputs.get("physio", {}).get("path", ""),
                }
            )
    return rows


def _prepare_out(out_dir: Path) -> None:
    """Create OUT and check a file can be written in it; raise EegemoError if not."""
    import tempfile

    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=out_dir).close()
    except OSError as exc:
        blocking = next((p for p in out_dir.parents if p.exists() and not p.is_dir()), None)
        reason = f"{blocking} is a file, not a folder" if blocking else exc.strerror or exc
        raise EegemoError(f"{out_dir}: cannot write the output folder: {reason}") from None


def _discover(
    raw: str | Path, config: PreprocessConfig
) -> tuple[list[Recording], list[Failure], list[str]]:
    """:func:`~eegemo.eeg.io.discover`, with the warnings it gives as notes."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        recordings, unassigned = discover(raw, config.discovery)
    failures = [Failure(str(path), "discover", _one_line(msg)) for path, msg in unassigned]
    return recordings, failures, [_one_line(str(w.message)) for w in caught]


def _writes_into(out_dir: Path, recordings: list[Recording]) -> list[Path]:
    """The folders under OUT that a batch over ``recordings`` writes files into."""
    from .cache import CLEAN_DIR
    from .pipeline import PROVENANCE_DIR

    subjects = sorted({rec.subject for rec in recordings})
    return [
        out_dir,
        *(out_dir / name for name in (PROVENANCE_DIR, CLEAN_DIR, LOG_DIR)),
        *(out_dir / subject for subject in subjects),
        *(out_dir / subject / "png" for subject in subjects),
    ]


def _describe(recording: Recording) -> list[dict[str, Any]]:
    try:
        return describe_inputs(recording)
    except OSError as exc:
        raise RecordingError("read", f"cannot read the file: {exc}") from exc


def preprocess(
    raw: str | Path,
    out: str | Path,
    config: PreprocessConfig | None = None,
    *,
    jobs: int = 1,
    backend: str = "loky",
    scheduler: str | None = None,
    on_error: str = "continue",
    keep_clean: bool = True,
    save_epochs: bool = False,
    progress: bool = True,
) -> BatchResult:
    """Preprocess every recording under ``raw`` into topomaps under ``out``.

    Recordings whose provenance shows the same cache key and intact outputs are
    skipped; the others are recomputed from the first step whose key changed (see
    :mod:`eegemo.eeg.cache`). ``manifest.csv`` lists the epochs of the recordings found
    under ``raw`` that are complete; ``failures.csv`` the recordings of this run that
    failed, each with a log of its full traceback. Temporary files left by a killed run
    are removed first.

    Parameters
    ----------
    raw : path-like
        A recording, a folder searched recursively, or a BIDS dataset.
    out : path-like
        Output folder; created if needed. Nothing is written outside it.
    config : PreprocessConfig, optional
        What to compute; defaults to :class:`PreprocessConfig()`.
    jobs : int
        Recordings processed at the same time (worker processes).
    backend : {"loky", "dask"}
        ``"loky"``: local processes. ``"dask"``: a Dask cluster through joblib's dask
        backend, either at ``scheduler`` or a local cluster of ``jobs`` single-threaded
        worker processes. Outputs are identical either way.
    scheduler : str, optional
        Address of a running Dask scheduler (``tcp://host:8786``); its workers must
        see ``raw`` and ``out`` at the same paths.
    on_error : {"continue", "abort", "debug"}
        ``"continue"``: record each failure and process the other recordings.
        ``"abort"``: stop at the first failure (a file discovery cannot assign
        included); recordings already finished keep their outputs, the others are
        left for a later run. ``"debug"``: process the recordings one at a time in this
        process, without workers, and let the first failure's original exception
        propagate, so that a debugger stops at the failing line.
    keep_clean : bool
        Keep each cleaned recording and its ICA in ``OUT/clean/``, so that a later
        change of the epochs, band-power or topomap settings does not clean the
        recordings again. ``False`` deletes them as each recording is done.
    save_epochs : bool
        Also write each recording's kept epochs to ``OUT/clean/<id>-epo.fif``, for
        :func:`mne.read_epochs` (pyRiemann, braindecode or your own MNE code). Like
        ``keep_clean`` it is no part of the configuration and changes no cache key; a
        recording complete without the file is processed again for it (from its
        cleaned recording, when kept). The file stays when ``keep_clean`` is False.
    progress : bool
        Show a progress bar on stderr.

    Returns
    -------
    result : BatchResult
        Processed, skipped, failed and unprocessed recordings, and the number of epochs.

    Raises
    ------
    ConfigError
        If ``jobs``, ``backend`` or ``on_error`` is invalid.
    EegemoError
        If ``raw`` does not exist or holds no recordings, or ``out`` cannot be created
        or written (checked before any recording is processed).
    """
    config = config if config is not None else PreprocessConfig()
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ConfigError(f"jobs: expected a positive integer, got {jobs!r}")
    if backend not in BACKENDS:
        raise ConfigError(f"backend: expected one of {', '.join(BACKENDS)}, got {backend!r}")
    if scheduler and backend != "dask":
        raise ConfigError('a scheduler address needs backend "dask"')
    if on_error not in ON_ERROR:
        raise ConfigError(f"on_error: expected one of {', '.join(ON_ERROR)}, got {on_error!r}")
    out_dir = Path(out)
    if out_dir.exists() and not out_dir.is_dir():
        raise EegemoError(f"{out_dir}: exists and is not a folder")
    recordings, failures, notes = _discover(raw, config)
    _prepare_out(out_dir)
    removed = remove_stale_temporaries(*_writes_into(out_dir, recordings))

    todo: Todo = []
    skipped: list[str] = []
    keys: dict[str, str] = {}
    for rec in recordings:
        try:
            inputs = _describe(rec)
        except RecordingError as exc:
            failures.append(_failure(out_dir, rec, exc))
            continue
        keys[rec.id] = cache_key(rec, config, inputs)
        if is_complete(out_dir, rec, keys[rec.id], save_epochs):
            skipped.append(rec.id)
        else:
            todo.append((rec, inputs))

    results: list[tuple[str, int | Failure]] = []
    try:
        # With abort or debug, a failure found before processing stops the batch here.
        if on_error == "debug" and not failures:
            _run_in_process(
                todo,
                config,
                out_dir,
                results,
                keep_clean=keep_clean,
                save_epochs=save_epochs,
                progress=progress,
            )
        elif on_error == "continue" or not failures:
            _run_parallel(
                todo,
                config,
                out_dir,
                results,
                jobs=jobs,
                backend=backend,
                scheduler=scheduler,
                keep_clean=keep_clean,
                save_epochs=save_epochs,
                abort=on_error == "abort",
                progress=progress,
            )
    finally:
        # Also when a failure propagates (debug): what finished is listed.
        failures += [r for _, r in results if isinstance(r, Failure)]
        failures.sort(key=lambda f: f.recording)
        rows = _manifest_rows(out_dir, recordings, keys)
        write_manifest(out_dir, rows)
        write_csv(
            out_dir / "failures.csv", FAILURE_COLUMNS, [dataclasses.asdict(f) for f in failures]
        )
    finished = {rid for rid, _ in results}
    processed = sorted(rid for rid, r in results if not isinstance(r, Failure))
    for rid in processed:
        prov = read_provenance(out_dir, rid) or {}
        notes += [f"{rid}: {note}" for note in prov.get("notes", [])]
    return BatchResult(
        out_dir=out_dir,
        processed=processed,
        skipped=sorted(skipped),
        failures=failures,
        n_epochs=len(rows),
        removed_temporaries=removed,
        not_processed=sorted(rec.id for rec, _ in todo if rec.id not in finished),
        notes=notes,
    )
