"""``eegemo preprocess RAW OUT``: EEG recordings to band-power topomaps."""

from __future__ import annotations

import argparse
import sys

from .options import add_config_options, add_progress_option

EPILOG = """\
examples:
  # the classic chain (bandpass, notch, resample, average reference, ICA) with defaults
  eegemo preprocess raw/ out/ --jobs 4

  # a ready pipeline, e.g. the PhysioNet mental-arithmetic recordings
  eegemo preprocess eegmat/ out/ --config pipelines/eegmat.toml --jobs 2

  # subject and label from the file names, 14-channel headset, PNG previews
  eegemo preprocess emotions/ out/ --subject-pattern '(?P<subject>s\\d+)' \\
      --label-pattern '_(?P<label>[a-z]+)_raw' --png

  # change single settings without editing the file (stages are addressed by name,
  # or by position from 0 when two share a name: stages.2.h_freq)
  eegemo preprocess raw/ out/ --config pipelines/default.toml \\
      --set stages.bandpass.h_freq=40 --set epochs.length_s=4 --set topomap.res=64

  # on a Dask cluster (workers must see RAW and OUT at the same paths)
  eegemo preprocess raw/ out/ --backend dask --scheduler tcp://10.0.0.5:8786

outputs (in OUT):
  manifest.csv                    one row per epoch: subject, recording, label, path,
                                  index (row in the .npy), bandpower_path, onset_s
  <subject>/<id>_topomaps.npy     float32 (n_epochs, n_bands, res, res), NaN outside head
  <subject>/<id>_bandpower.npy    float32 (n_epochs, n_channels, n_bands)
  provenance/<id>.json            configuration, versions, channels, ICA components
                                  excluded and why, epochs rejected, timings, hashes
  failures.csv                    recording, stage, error, log for each unusable file
  logs/<id>.log                   the full traceback of a recording that failed
  clean/<id>_raw.fif, <id>-ica.fif  the cleaned recording and its ICA (the step cache;
                                  safe to delete, or not kept with --no-keep-clean)
  clean/<id>-epo.fif              with --save-epochs: the kept epochs, for
                                  mne.read_epochs (pyRiemann, braindecode, your own MNE code)
  qc-report.html                  with --qc-report: an mne.Report of the data set

Re-running on the same OUT skips recordings that are complete for the same
configuration and input bytes, and recomputes the others from the first step whose
settings changed: a new topomap.res or --png reuses the cleaned recordings and the
band power. Exit status: 0 all recordings processed, 1 some failed (the others are
written) or --on-error abort stopped the batch, 2 usage or configuration error.
"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register the ``preprocess`` subcommand."""
    p = sub.add_parser(
        "preprocess",
        help="preprocess EEG recordings into band-power topomaps (parallel, resumable)",
        description="Find the EEG recordings in RAW, clean them with the stages of a TOML\n"
        "pipeline (bandpass, notch, resample, re-reference, ICA), cut them into epochs,\n"
        "compute band power, interpolate it into topomap images, and write arrays, a\n"
        "manifest, provenance records and a failure report to OUT.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("raw", metavar="RAW", help="a recording, a folder (searched recursively) "
                   "or a BIDS dataset; EDF, BDF, GDF, BrainVision, EEGLAB, FIF, CNT")
    p.add_argument("out", metavar="OUT", help="output folder (created if needed)")
    add_config_options(p, "TOML pipeline, e.g. pipelines/default.toml (default: the "
                       "built-in defaults, the same classic chain)", "stages.ica.n_components=15")
    p.add_argument("--jobs", "-j", type=int, default=1, metavar="N",
                   help="recordings processed in parallel (default: 1)")
    p.add_argument("--subject-pattern", metavar="RE",
                   help="regular expression with a (?P<subject>...) group, searched in file "
                   "names (sets discovery.subject_pattern)")
    p.add_argument("--label-pattern", metavar="RE",
                   help="regular expression with a (?P<label>...) group (sets "
                   "discovery.label_pattern)")
    p.add_argument("--labels-csv", metavar="FILE",
                   help="CSV with one row per recording (recording, subject, label) or per "
                   "rated trial (event or onset/offset, ratings; see discovery.ratings) (sets "
                   "discovery.labels_csv)")
    p.add_argument("--montage", metavar="NAME",
                   help="electrode positions: built-in montage name or montage file (sets "
                   "channels.montage)")
    p.add_argument("--png", action="store_true",
                   help="also write a PNG panel per recording (sets topomap.png = true)")
    p.add_argument("--backend", choices=("loky", "dask"), default="loky",
                   help="local worker processes (loky, default) or a Dask cluster")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="Dask scheduler address for --backend dask (default: a local "
                   "cluster of --jobs workers)")
    p.add_argument("--on-error", choices=("continue", "abort", "debug"), default="continue",
                   help="when a recording fails: record it and go on (continue, default), "
                   "stop the batch (abort), or process one recording at a time in this "
                   "process and let the error propagate, for a debugger (debug)")
    p.add_argument("--no-keep-clean", dest="keep_clean", action="store_false",
                   help="delete each cleaned recording (OUT/clean/) once it is done: saves "
                   "disk, but a later settings change cleans every recording again")
    p.add_argument("--save-epochs", action="store_true",
                   help="also write each recording's kept epochs, with their drop log, to "
                   "OUT/clean/<id>-epo.fif (double precision), readable with mne.read_epochs")
    p.add_argument("--qc-report", action="store_true",
                   help="at the end, write OUT/qc-report.html: a quality-control report "
                   "(spectra before and after cleaning, ICA components removed and why, "
                   "epochs rejected, band topomaps; see eegemo.eeg.qc.write_qc_report)")
    add_progress_option(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the batch and print a summary; return 0, or 1 if some recordings failed."""
    from ..config import load_config
    from ..eeg.batch import preprocess
    from ..eeg.settings import PreprocessConfig
    from ..errors import ConfigError

    if args.jobs < 1:
        raise ConfigError(f"--jobs: expected a positive integer, got {args.jobs}")
    if args.scheduler and args.backend != "dask":
        raise ConfigError("--scheduler needs --backend dask")
    values = {
        key: value
        for key, value in (
            ("discovery.subject_pattern", args.subject_pattern),
            ("discovery.label_pattern", args.label_pattern),
            ("discovery.labels_csv", args.labels_csv),
            ("channels.montage", args.montage),
            ("topomap.png", True if args.png else None),
        )
        if value is not None
    }
    config = load_config(PreprocessConfig, args.config, args.overrides, values)
    result = preprocess(
        args.raw,
        args.out,
        config,
        jobs=args.jobs,
        backend=args.backend,
        scheduler=args.scheduler,
        on_error=args.on_error,
        keep_clean=args.keep_clean,
        save_epochs=args.save_epochs,
        progress=not args.no_progress,
    )
    for note in result.notes:
        print(f"note: {note}", file=sys.stderr)
    for failure in result.failures:
        log = f" (traceback in {result.out_dir / failure.log})" if failure.log else ""
        print(f"FAILED {failure.recording}: [{failure.stage}] {failure.error}{log}",
              file=sys.stderr)  # fmt: skip
    print(
        f"{len(result.processed)} processed, {len(result.skipped)} skipped (already complete), "
        f"{len(result.failures)} failed; {result.n_epochs} epochs in {result.manifest_path}"
    )
    if result.removed_temporaries:
        print(f"removed {result.removed_temporaries} temporary files of an interrupted run")
    if result.failures:
        print(f"failures listed in {result.failures_path}")
    if args.qc_report:
        from ..eeg.qc import write_qc_report

        print(f"quality-control report: {write_qc_report(result.out_dir, raw_dir=args.raw)}")
    if result.not_processed:
        print(f"stopped at the first failure (--on-error {args.on_error}): "
              f"{len(result.not_processed)} recording(s) not processed")  # fmt: skip
    return 1 if result.failures else 0
