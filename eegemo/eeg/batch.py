"""Preprocess a whole folder: discovery, resume, parallel workers, manifest and failures.

:func:`preprocess` is what ``eegemo preprocess`` runs. It finds the recordings,
skips those whose outputs are complete for the same configuration and input bytes,
fans the rest out with joblib (local processes, or a Dask cluster through joblib's
dask backend), and finally rebuilds ``OUT/manifest.csv`` and ``OUT/failures.csv``
from the provenance records, so a resumed run gives the same bytes as a clean one.
One failing recording never stops the others: workers return failure records.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import json
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..atomic import atomic_open, remove_stale_temporaries
from ..errors import ConfigError, EegemoError, RecordingError
from ..integrity import sha256_file
from .io import Recording, discover
from .manifest import write_manifest
from .pipeline import (
    cache_key,
    describe_inputs,
    process_recording,
    provenance_path,
)
from .settings import PreprocessConfig

#: Columns of ``OUT/failures.csv``, one row per recording that could not be processed.
FAILURE_COLUMNS = ("recording", "stage", "error")
BACKENDS = ("loky", "dask")


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
    """

    recording: str
    stage: str
    error: str


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
    """

    out_dir: Path
    processed: list[str]
    skipped: list[str]
    failures: list[Failure]
    n_epochs: int
    removed_temporaries: int = 0

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


def _read_provenance(out_dir: Path, recording_id: str) -> dict[str, Any] | None:
    path = provenance_path(out_dir, recording_id)
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except (OSError, ValueError):
        return None


def is_complete(out_dir: str | Path, recording: Recording, key: str) -> bool:
    """Whether ``recording`` has complete outputs for cache key ``key``.

    Complete means: its provenance exists, records the same key, and every output it
    lists exists with the recorded SHA-256.

    Parameters
    ----------
    out_dir : path-like
        The output folder.
    recording : Recording
        The recording.
    key : str
        Its current :func:`~eegemo.eeg.pipeline.cache_key`.

    Returns
    -------
    complete : bool
    """
    out_dir = Path(out_dir)
    prov = _read_provenance(out_dir, recording.id)
    if prov is None or prov.get("cache_key") != key:
        return False
    for entry in prov.get("outputs", {}).values():
        path = out_dir / entry["path"]
        if not path.is_file() or sha256_file(path) != entry["sha256"]:
            return False
    return True


def _invalidate(out_dir: Path, recording: Recording) -> None:
    """Remove a stale provenance (first) and the outputs it lists before recomputing."""
    prov = _read_provenance(out_dir, recording.id)
    provenance_path(out_dir, recording.id).unlink(missing_ok=True)
    for entry in (prov or {}).get("outputs", {}).values():
        path = (out_dir / entry.get("path", "")).resolve()
        if path.is_file() and path.is_relative_to(out_dir.resolve()):
            path.unlink()


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


def run_one(
    recording: Recording,
    config: PreprocessConfig,
    out_dir: str | Path,
    key: str,
    parent_pid: int | None = None,
) -> tuple[str, int | Failure]:
    """Process one recording in a worker; never raise.

    Math libraries are limited to one thread so results do not depend on ``jobs``
    (and workers do not oversubscribe the cores).

    Parameters
    ----------
    recording, config, out_dir, key
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
    try:
        with threadpool_limits(limits=1):
            prov = process_recording(recording, config, out_dir, key=key)
        return recording.id, int(prov["epochs"]["kept"])
    except RecordingError as exc:
        return recording.id, Failure(str(recording.path), exc.stage, _one_line(exc.message))
    except Exception as exc:  # a bug must not stop the batch; report it like bad input
        return recording.id, Failure(
            str(recording.path), "pipeline", _one_line(f"{type(exc).__name__}: {exc}")
        )


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


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


def _run_parallel(
    todo: list[tuple[Recording, str]],
    config: PreprocessConfig,
    out_dir: Path,
    jobs: int,
    backend: str,
    scheduler: str | None,
    progress: bool,
) -> list[tuple[str, int | Failure]]:
    from joblib import Parallel, delayed
    from tqdm.auto import tqdm

    if not todo:
        return []
    tasks = (delayed(run_one)(rec, config, out_dir, key, os.getpid()) for rec, key in todo)
    context = (
        _dask_backend(jobs, scheduler) if backend == "dask" else contextlib.nullcontext()
    )
    results = []
    n_failed = 0
    with context, tqdm(
        total=len(todo), desc="preprocess", unit="rec", disable=not progress, dynamic_ncols=True
    ) as bar:
        n_jobs = jobs if backend == "loky" else -1
        parallel = Parallel(n_jobs=n_jobs, return_as="generator_unordered")
        for rid, result in parallel(tasks):
            results.append((rid, result))
            n_failed += isinstance(result, Failure)
            bar.set_postfix(failed=n_failed, refresh=False)
            bar.update()
    return results


def _manifest_rows(out_dir: Path, recordings: list[Recording]) -> list[dict[str, Any]]:
    rows = []
    for rec in sorted(recordings, key=lambda r: (r.subject, r.id)):
        prov = _read_provenance(out_dir, rec.id)
        if prov is None:
            continue
        outputs, epochs = prov["outputs"], prov["epochs"]
        pairs = zip(epochs["onsets_s"], epochs["labels"], strict=True)
        for index, (onset, label) in enumerate(pairs):
            rows.append(
                {
                    "subject": rec.subject,
                    "recording": rec.id,
                    "label": "" if label is None else label,
                    "path": outputs["topomaps"]["path"],
                    "index": index,
                    "bandpower_path": outputs["bandpower"]["path"],
                    "onset_s": f"{onset:.3f}",
                }
            )
    return rows


def _write_csv(path: Path, columns: tuple[str, ...], rows: list[dict[str, Any]]) -> None:
    with atomic_open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def preprocess(
    raw: str | Path,
    out: str | Path,
    config: PreprocessConfig | None = None,
    *,
    jobs: int = 1,
    backend: str = "loky",
    scheduler: str | None = None,
    progress: bool = True,
) -> BatchResult:
    """Preprocess every recording under ``raw`` into topomaps under ``out``.

    Recordings whose provenance shows the same cache key and intact outputs are
    skipped; the others lose their previous outputs (provenance first) and are
    recomputed. ``manifest.csv`` lists the epochs of the recordings found under
    ``raw`` that are complete; ``failures.csv`` the recordings of this run that
    failed. Temporary files left by a killed run are removed first.

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
    progress : bool
        Show a progress bar on stderr.

    Returns
    -------
    result : BatchResult
        Processed, skipped and failed recordings and the number of epochs.

    Raises
    ------
    ConfigError
        If ``jobs`` or ``backend`` is invalid.
    EegemoError
        If ``raw`` does not exist or holds no recordings.
    """
    config = config if config is not None else PreprocessConfig()
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ConfigError(f"jobs: expected a positive integer, got {jobs!r}")
    if backend not in BACKENDS:
        raise ConfigError(f"backend: expected one of {', '.join(BACKENDS)}, got {backend!r}")
    if scheduler and backend != "dask":
        raise ConfigError('a scheduler address needs backend "dask"')
    out_dir = Path(out)
    if out_dir.exists() and not out_dir.is_dir():
        raise EegemoError(f"{out_dir}: exists and is not a folder")
    recordings, unassigned = discover(raw, config.discovery)
    out_dir.mkdir(parents=True, exist_ok=True)
    removed = remove_stale_temporaries(out_dir)

    failures = [Failure(str(path), "discover", _one_line(msg)) for path, msg in unassigned]
    todo: list[tuple[Recording, str]] = []
    skipped: list[str] = []
    candidates: list[Recording] = []
    for rec in recordings:
        try:
            key = cache_key(rec, config, describe_inputs(rec))
        except OSError as exc:
            failures.append(Failure(str(rec.path), "read", f"cannot read the file: {exc}"))
            continue
        candidates.append(rec)
        if is_complete(out_dir, rec, key):
            skipped.append(rec.id)
        else:
            _invalidate(out_dir, rec)
            todo.append((rec, key))

    results = _run_parallel(todo, config, out_dir, jobs, backend, scheduler, progress)
    processed = sorted(rid for rid, r in results if not isinstance(r, Failure))
    failures += [r for _, r in results if isinstance(r, Failure)]
    failures.sort(key=lambda f: f.recording)

    rows = _manifest_rows(out_dir, candidates)
    write_manifest(out_dir, rows)
    _write_csv(out_dir / "failures.csv", FAILURE_COLUMNS, [dataclasses.asdict(f) for f in failures])
    return BatchResult(
        out_dir=out_dir,
        processed=processed,
        skipped=sorted(skipped),
        failures=failures,
        n_epochs=len(rows),
        removed_temporaries=removed,
    )
