"""``eegemo demo``: the whole journey on simulated data, ending in an HTML report."""

from __future__ import annotations

import argparse

from .options import add_progress_option

DESCRIPTION = """\
Simulate a small two-condition study (rest and task; EEG from realistic sources
through a spherical head model, eye blinks, line noise, and an ECG whose heart rate
depends on the condition), preprocess it with the default pipeline (bandpass, notch,
resample, average reference, ICA, epochs, band power, topomaps, heart features),
train the ResNet baseline (topo_resnet) on the EEG, a heart-feature model and a fused
EEG + heart model with validation on held-out training subjects, evaluate each on
simulated subjects they never saw, and write DIR/report.html: the pipeline that ran,
what ICA removed, topomaps per condition and band, an ECG strip with its beats and
the heart rate per condition, learning curves, confusion matrix, and the three
models' accuracy, balanced accuracy and macro-F1 side by side.

About 2 minutes on two CPU cores (--quick: about one). Everything is written inside
DIR; running again with the same settings reuses what is complete.
"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register the ``demo`` subcommand."""
    p = sub.add_parser(
        "demo",
        help="simulate a study, preprocess, train, evaluate and write an HTML report",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--out", default="eegemo-demo", metavar="DIR",
                   help="demo folder, empty or from an earlier demo (default: eegemo-demo)")
    p.add_argument("--subjects", type=int, metavar="N",
                   help="simulated subjects, at least 3 (default: 10, or 4 with --quick); "
                   "a fifth of them (at least one) is held out for the evaluation")
    p.add_argument("--jobs", "-j", type=int, metavar="N",
                   help="recordings preprocessed in parallel (default: the CPU cores)")
    p.add_argument("--quick", action="store_true",
                   help="4 subjects x 20 s and 2 training epochs: checks the whole chain fast")
    add_progress_option(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the demo and print where the report is."""
    from ..demo import print_result, run_demo

    result = run_demo(args.out, n_subjects=args.subjects, jobs=args.jobs, quick=args.quick,
                      progress=not args.no_progress)
    print_result(result)
    return 0
