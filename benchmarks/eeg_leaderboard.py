"""Same-fold EEG leaderboard on a preprocessed folder: classic pipelines, braindecode, eegemo.

In the spirit of MOABB's within-dataset, cross-subject evaluation: one run, the subject
folds of ``eegemo train --cv K`` (:func:`eegemo.train.data.cross_validation_splits`,
default 6 folds, the training config's ``seed`` and ``data.val_fraction``), every
method fitted on the training subjects of a fold and scored on its test subjects,
on the very same epochs (the manifest's rows). Methods (``--methods``):

* ``lr_global``: ``StandardScaler`` + ``LogisticRegression(class_weight="balanced",
  max_iter=2000)`` on the log10 band power the preprocessing wrote (``bandpower_path``:
  19 channels x 5 bands = 95 features); the scaler is fitted on the training subjects;
* ``lr_subject``: the same after z-scoring each subject's features with that subject's
  own mean and spread (no labels, so test subjects are standardised the same way);
* ``riemann_ts``: OAS covariances (pyRiemann) of the raw epochs, each subject's
  covariances re-centred on that subject's own Riemannian mean (no labels), tangent
  space at the training subjects' mean, then the logistic regression above;
* ``shallow_fbcsp``, ``eegnet``: braindecode ``ShallowFBCSPNet`` and ``EEGNet`` on the
  raw epochs, each channel z-scored per subject with the subject's own statistics;
  kernels and pools scaled to the sampling rate (the published values at 250 Hz and
  128 Hz respectively); a plain PyTorch loop: AdamW, cosine schedule, class-weighted
  cross-entropy, the config's ``seed``, ``--raw-epochs`` epochs (default 30), on
  epochs resampled to ``--raw-sfreq`` (default 128 Hz, EEGNet's published rate and 2-3
  times faster than 250 Hz on a CPU; the recordings are low-passed at 45 Hz; 0 keeps
  their rate);
* ``net:MODEL``: an eegemo model trained by
  :func:`eegemo.train.experiment.train_on_split` on the topomaps with the training
  config (``--config``, ``--set``); ``net:auto`` is what ``eegemo train`` does with no
  configuration (the EEG default model, ``topo_linear``, with its recipe; see
  ``pipelines/train-topomap.toml``), a named model gets the configuration as it is
  (built-in defaults: AdamW, 8 epochs, 20 % validation subjects); ``net`` alone stands
  for every model of ``--models`` (default ``auto,topo_cnn,topo_resnet``; a new model
  is added there, e.g. ``--models auto,topo_cnn,NEW``). Per-method overrides
  follow ``@``: ``net:topo_cnn@eeg.normalization=global@epochs=20`` (a run with
  ``net:topo_cnn,net:topo_cnn@eeg.normalization=global`` compares normalisations).

The raw epochs are cut from the cleaned recordings ``OUT/clean/<recording>_raw.fif`` at
the manifest's ``onset_s``, so all methods see exactly the same epochs. The
regressions and ``riemann_ts`` use all training subjects of a fold; the networks
(braindecode and eegemo alike) hold out the fold's validation subjects and keep the
epoch with the best validation balanced accuracy. Every normalisation statistic
comes from the training subjects or, where subject-wise, from that subject's own
unlabelled epochs.

Prints one JSON object to stdout (progress to stderr): per method the balanced
accuracy, macro-F1 and accuracy of every fold with mean and sd, the fit time (all
folds, prediction included), the one-off preparation time (reading and normalising the
features or raw epochs, covariances) and each fold's time and selected epoch, then the
ranking by mean balanced accuracy. ``--markdown`` adds a Markdown table, after the JSON
or in a file (its time column is fit plus preparation).

Run (after ``eegemo preprocess path/to/eegmat OUT --config eegmat``)::

    python benchmarks/eeg_leaderboard.py OUT [--methods all] [--models auto,topo_cnn,topo_resnet]
        [--folds 6] [--subjects N] [--threads N] [--config FILE] [--set key=value]
        [--raw-epochs 30] [--raw-sfreq 128] [--out DIR] [--markdown [FILE]]

The full default leaderboard (all methods, 6 folds, 24 subjects)::

    python benchmarks/eeg_leaderboard.py OUT --threads 2 --markdown

A quick check (8 subjects, 2 folds, 2 epochs per network)::

    python benchmarks/eeg_leaderboard.py OUT --subjects 8 --folds 2 --raw-epochs 2 \\
        --set epochs=2 --threads 2 --markdown
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import math
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from baselines import (
    clean_epochs,
    logistic_regression,
    manifest_features,
    read_manifest_rows,
    recentre_per_subject,
    standardize_channels_per_subject,
    standardize_per_subject,
    summarize_method,
)

#: Methods on the band-power features or covariances (no network).
CLASSIC = ("lr_global", "lr_subject", "riemann_ts")
#: braindecode networks on the raw epochs.
RAW_NETS = ("shallow_fbcsp", "eegnet")
#: Prefix of an eegemo network method (``net:MODEL[@key=value...]``).
NET = "net:"
#: Iteration limit of every logistic regression of the leaderboard.
LR_MAX_ITER = 2000

DESCRIPTIONS = {
    "lr_global": "scaler + balanced logistic regression on log band power",
    "lr_subject": "the same, features z-scored per subject with its own statistics",
    "riemann_ts": "OAS covariances re-centred per subject, tangent space, logistic regression",
    "shallow_fbcsp": "braindecode ShallowFBCSPNet on raw epochs z-scored per subject",
    "eegnet": "braindecode EEGNet on raw epochs z-scored per subject",
    "net:auto": "eegemo's default (model = auto): topo_linear, logistic regression on "
                "4x4 regional band power, L2 0.04, all training subjects",
}


@dataclasses.dataclass(frozen=True)
class RawNetOptions:
    """Training of the braindecode networks (``--raw-*`` options).

    Attributes
    ----------
    epochs : int
        Training epochs.
    batch_size : int
        Training batch size.
    lr : float
        Peak learning rate of AdamW (cosine decay to 0 over the run).
    weight_decay : float
        Decoupled weight decay of AdamW.
    seed : int
        Seed of the weights and of the batch order.
    device : str
        ``auto``, ``cpu``, ``cuda`` or ``mps``.
    """

    epochs: int = 30
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 1e-2
    seed: int = 0
    device: str = "auto"


def split_top_level(text: str) -> list[str]:
    """Split ``text`` at the commas outside brackets, braces and quotes.

    Parameters
    ----------
    text : str
        Comma-separated items, where an item may hold a JSON or TOML value with commas
        (``net:fusion_net@data.inputs=["eeg","physio"]``).

    Returns
    -------
    items : list of str
        Stripped, empty items dropped.
    """
    items, depth, quote, start = [], 0, "", 0
    for i, ch in enumerate(text):
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "\"'":
            quote = ch
        elif ch in "[{(":
            depth += 1
        elif ch in "]})":
            depth -= 1
        elif ch == "," and depth == 0:
            items.append(text[start:i])
            start = i + 1
    items.append(text[start:])
    return [item.strip() for item in items if item.strip()]


def parse_methods(methods: str, models: str) -> list[str]:
    """The method specs of a ``--methods`` value, in order, without repeats.

    Parameters
    ----------
    methods : str
        Comma-separated names: ``all`` (every classic method, both braindecode
        networks and ``net``), ``classic``, ``raw`` (the braindecode networks),
        ``net`` (one ``net:MODEL`` per model of ``models``), a method of
        :data:`CLASSIC` or :data:`RAW_NETS`, or ``net:MODEL[@key=value...]``.
    models : str
        Comma-separated eegemo models that ``net`` stands for.

    Returns
    -------
    specs : list of str

    Raises
    ------
    SystemExit
        On an unknown name or a ``net:`` spec without a model.
    """
    nets = [NET + m for m in split_top_level(models) if m != "none"]
    groups = {"all": [*CLASSIC, *RAW_NETS, *nets], "classic": list(CLASSIC),
              "raw": list(RAW_NETS), "net": nets}
    specs: list[str] = []
    for item in split_top_level(methods):
        if item in groups:
            expanded = groups[item]
        elif item in CLASSIC or item in RAW_NETS:
            expanded = [item]
        elif item.startswith(NET) and net_model(item):
            expanded = [item]
        else:
            raise SystemExit(f"--methods: unknown method {item!r}; expected all, classic, raw, "
                             f"net, {', '.join(CLASSIC + RAW_NETS)} or net:MODEL[@key=value...]")
        specs += [s for s in expanded if s not in specs]
    return specs


def net_model(spec: str) -> str:
    """The model name of ``net:MODEL[@key=value...]``."""
    return spec[len(NET):].split("@")[0].strip()


def net_overrides(spec: str) -> list[str]:
    """The config overrides of ``net:MODEL[@key=value...]``: ``model=MODEL`` first."""
    model, *extra = spec[len(NET):].split("@")
    return [f"model={model.strip()}", *(e.strip() for e in extra if e.strip())]


def braindecode_models():
    """``braindecode.models``, imported without its warnings about MNE montage names."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        from braindecode import models
    return models


def raw_net(kind: str, n_chans: int, n_times: int, sfreq: float, n_classes: int):
    """A braindecode network for epochs ``(n_chans, n_times)`` sampled at ``sfreq``.

    Parameters
    ----------
    kind : {"shallow_fbcsp", "eegnet"}
        ``ShallowFBCSPNet`` (Schirrmeister et al. 2017; temporal filter 0.1 s, pool 0.3 s,
        stride 0.06 s: the published 25, 75, 15 samples at 250 Hz) or ``EEGNet``
        (Lawhern et al. 2018, 8 temporal and 2 x 8 spatial filters; kernels 0.5 s: the
        published 64 and 16 samples at 128 Hz).
    n_chans, n_times : int
        Epoch shape.
    sfreq : float
        Sampling rate, which sets the kernel lengths.
    n_classes : int
        Outputs.

    Returns
    -------
    model : torch.nn.Module
        Taking ``(batch, n_chans, n_times)`` and returning class logits.
    """
    models = braindecode_models()
    if kind == "shallow_fbcsp":
        return models.ShallowFBCSPNet(
            n_chans=n_chans, n_outputs=n_classes, n_times=n_times, final_conv_length="auto",
            filter_time_length=max(2, round(0.1 * sfreq)),
            pool_time_length=max(2, round(0.3 * sfreq)),
            pool_time_stride=max(1, round(0.06 * sfreq)),
        )
    eegnet = getattr(models, "EEGNet", None) or models.EEGNetv4
    return eegnet(n_chans=n_chans, n_outputs=n_classes, n_times=n_times,
                  kernel_length=max(2, round(0.5 * sfreq)),
                  depthwise_kernel_length=max(2, round(sfreq / 8)))


def predict(model, x: np.ndarray, device, batch_size: int = 512) -> np.ndarray:
    """Class index of every epoch of ``x`` under ``model`` (evaluation mode, no gradients)."""
    import torch

    model.eval()
    out = []
    with torch.no_grad():
        for start in range(0, len(x), batch_size):
            xb = torch.from_numpy(x[start:start + batch_size]).to(device)
            out.append(model(xb).argmax(dim=1).cpu().numpy())
    return np.concatenate(out) if out else np.empty(0, int)


def fit_raw_net(
    kind: str,
    x: np.ndarray,
    y: np.ndarray,
    sets: dict[str, np.ndarray],
    sfreq: float,
    classes: list[str],
    options: RawNetOptions,
) -> tuple[np.ndarray, dict]:
    """Train a braindecode network on one fold and predict its test epochs.

    Parameters
    ----------
    kind : {"shallow_fbcsp", "eegnet"}
        See :func:`raw_net`.
    x : ndarray, shape (n_epochs, n_channels, n_times), float32
        Every epoch, already z-scored per subject.
    y : ndarray of int
        Class index of every epoch.
    sets : dict
        Boolean masks ``train``, ``val`` (may be all false: the last epoch is kept) and
        ``test`` over the epochs.
    sfreq : float
        Sampling rate of ``x``.
    classes : list of str
        Class names in index order.
    options : RawNetOptions
        Optimiser, schedule, seed and device.

    Returns
    -------
    pred : ndarray of int
        Predicted class of every test epoch, by the weights of the epoch with the best
        validation balanced accuracy (the earliest on ties).
    info : dict
        ``best_epoch`` (1-based) and ``val_balanced_accuracy``.
    """
    import copy

    import torch

    from eegemo.train.device import resolve_device
    from eegemo.train.metrics import classification_metrics

    device = resolve_device(options.device)
    torch.manual_seed(options.seed)
    model = raw_net(kind, x.shape[1], x.shape[2], sfreq, len(classes)).to(device)
    counts = np.bincount(y[sets["train"]], minlength=len(classes))
    weight = counts.sum() / (len(classes) * np.maximum(counts, 1))
    loss_fn = torch.nn.CrossEntropyLoss(weight=torch.tensor(weight, dtype=torch.float32,
                                                            device=device))
    x_train = torch.from_numpy(x[sets["train"]]).to(device)
    y_train = torch.from_numpy(y[sets["train"]]).long().to(device)
    n = len(x_train)
    steps = options.epochs * math.ceil(n / options.batch_size)
    optimizer = torch.optim.AdamW(model.parameters(), lr=options.lr,
                                  weight_decay=options.weight_decay)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, steps))
    generator = torch.Generator().manual_seed(options.seed)
    best_score, best_epoch, best_state = -math.inf, options.epochs, None
    for epoch in range(1, options.epochs + 1):
        model.train()
        order = torch.randperm(n, generator=generator).to(device)
        for start in range(0, n, options.batch_size):
            idx = order[start:start + options.batch_size]
            if len(idx) < 2:  # batch norm needs two items
                continue
            optimizer.zero_grad(set_to_none=True)
            loss_fn(model(x_train[idx]), y_train[idx]).backward()
            optimizer.step()
            schedule.step()
        if sets["val"].any():
            pred = predict(model, x[sets["val"]], device)
            score = classification_metrics(y[sets["val"]], pred, classes)["balanced_accuracy"]
            if score > best_score:
                best_score, best_epoch = score, epoch
                best_state = copy.deepcopy(model.state_dict())
    if best_state is not None:
        model.load_state_dict(best_state)
    info = {"best_epoch": best_epoch,
            "val_balanced_accuracy": None if best_state is None else round(best_score, 4)}
    return predict(model, x[sets["test"]], device), info


def markdown_table(methods: dict, ranking: list[str]) -> str:
    """The leaderboard as a Markdown table, best mean balanced accuracy first.

    Parameters
    ----------
    methods : dict
        Method -> :func:`baselines.summarize_method` output (with ``prep_seconds``).
    ranking : list of str
        Methods in table order.

    Returns
    -------
    table : str
    """
    def cell(stat: dict) -> str:
        return f"{stat['mean']:.3f} ± {stat['sd']:.3f}"

    lines = ["| rank | method | balanced accuracy | macro-F1 | accuracy | "
             "balanced accuracy per fold | time (s) |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for rank, name in enumerate(ranking, start=1):
        m = methods[name]
        folds = " / ".join(f"{v:.3f}" for v in m["balanced_accuracy"]["values"])
        seconds = m["fit_seconds"] + m.get("prep_seconds", 0.0)
        lines.append(f"| {rank} | `{name}` | {cell(m['balanced_accuracy'])} | "
                     f"{cell(m['macro_f1'])} | {cell(m['accuracy'])} | {folds} | "
                     f"{seconds:.1f} |")
    return "\n".join(lines) + "\n"


def log(message: str) -> None:
    """Progress line on stderr."""
    print(message, file=sys.stderr, flush=True)


def main() -> None:
    """Parse arguments, run every method on every fold, print the JSON summary."""
    from eegemo.eeg.pipeline import read_provenance
    from eegemo.environment import versions
    from eegemo.errors import ConfigError
    from eegemo.models.registry import get_entry
    from eegemo.train.data import cross_validation_splits, natural_sort
    from eegemo.train.experiment import train_on_split
    from eegemo.train.fusion import resolve_config
    from eegemo.train.metrics import classification_metrics
    from eegemo.train.settings import AUTO_MODEL, load_train_config

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", type=Path, help="preprocessed folder (manifest.csv, clean/)")
    parser.add_argument("--methods", default="all",
                        help="comma-separated methods: all, classic, raw, net, "
                             f"{', '.join(CLASSIC + RAW_NETS)}, net:MODEL[@key=value...]")
    parser.add_argument("--models", default="auto,topo_cnn,topo_resnet",
                        help="comma-separated eegemo models that 'net' stands for")
    parser.add_argument("--folds", default="6", help="number of subject folds or 'loso'")
    parser.add_argument("--subjects", type=int, default=0,
                        help="use only the first N subjects (natural order; 0 = all)")
    parser.add_argument("--threads", type=int, default=0,
                        help="CPU threads for PyTorch and BLAS, also passed to the eegemo "
                             "networks as threads=N (0 = library defaults)")
    parser.add_argument("--config", type=Path, help="training config for the eegemo networks")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        help="config override for the eegemo networks (repeatable); "
                             "seed and data.val_fraction also set the folds")
    parser.add_argument("--raw-epochs", type=int, default=30,
                        help="training epochs of the braindecode networks")
    parser.add_argument("--raw-sfreq", type=float, default=128.0,
                        help="resample the epochs of the braindecode networks to this rate "
                             "(0 = keep the recordings' rate)")
    parser.add_argument("--raw-batch-size", type=int, default=64,
                        help="training batch size of the braindecode networks")
    parser.add_argument("--raw-lr", type=float, default=1e-3,
                        help="peak AdamW learning rate of the braindecode networks")
    parser.add_argument("--raw-weight-decay", type=float, default=1e-2,
                        help="AdamW weight decay of the braindecode networks")
    parser.add_argument("--out", type=Path, help="keep the eegemo network runs here")
    parser.add_argument("--markdown", nargs="?", const="-", metavar="FILE",
                        help="also write a Markdown table: to FILE, or after the JSON "
                             "on stdout when no FILE is given (then put DATA first)")
    args = parser.parse_args()

    specs = parse_methods(args.methods, args.models)
    if not specs:
        raise SystemExit("--methods: nothing to run")
    threads = [f"threads={args.threads}"] if args.threads > 0 else []
    try:  # every configuration and model name checked before anything is trained
        base = load_train_config(args.config, [*threads, *args.overrides])
        net_configs = {s: load_train_config(args.config, [*threads, *args.overrides,
                                                          *net_overrides(s)])
                       for s in specs if s.startswith(NET)}
        for config in net_configs.values():
            if config.model != AUTO_MODEL:
                get_entry(config.model)
    except ConfigError as exc:
        raise SystemExit(f"error: {exc}") from None
    options = RawNetOptions(epochs=args.raw_epochs, batch_size=args.raw_batch_size,
                            lr=args.raw_lr, weight_decay=args.raw_weight_decay,
                            seed=base.seed, device=base.device)

    limits = contextlib.nullcontext()
    if args.threads > 0:
        import torch
        from threadpoolctl import threadpool_limits

        torch.set_num_threads(args.threads)
        limits = threadpool_limits(limits=args.threads)

    rows = [r for r in read_manifest_rows(args.data, ("bandpower_path", "onset_s"),
                                          "preprocess with a current eegemo")
            if r["bandpower_path"] and r["label"]]
    chosen = natural_sort({r["subject"] for r in rows})
    if args.subjects > 0:
        chosen = chosen[:args.subjects]
        rows = [r for r in rows if r["subject"] in set(chosen)]
    subjects = np.array([r["subject"] for r in rows])
    classes = natural_sort({r["label"] for r in rows})
    y = np.array([classes.index(r["label"]) for r in rows])
    cv = args.folds if args.folds == "loso" else int(args.folds)
    splits = cross_validation_splits(subjects, cv, base.data.val_fraction, base.seed)
    # A network's validation subjects follow its own resolved data.val_fraction (the
    # default EEG recipe has none), as in `eegemo train --cv`; the test folds are the same.
    net_splits = {}
    for spec, config in net_configs.items():
        fraction = resolve_config(args.data, config).data.val_fraction
        net_splits[spec] = cross_validation_splits(subjects, cv, fraction, base.seed)
        if [s.test for s in net_splits[spec]] != [s.test for s in splits]:
            raise SystemExit(f"{spec}: data.val_fraction = {fraction} changes the test folds")
    log(f"{len(chosen)} subjects, {len(rows)} epochs, {len(splits)} folds; methods: "
        f"{', '.join(specs)}")

    with limits:
        start = time.perf_counter()
        features = manifest_features(args.data, rows, "bandpower_path")
        prep = {"lr_global": time.perf_counter() - start}
        start = time.perf_counter()
        features_subject = standardize_per_subject(features, subjects)
        prep["lr_subject"] = prep["lr_global"] + time.perf_counter() - start
        raw_sfreq = None
        use_raw_nets = any(s in RAW_NETS for s in specs)
        if "riemann_ts" in specs or use_raw_nets:
            prov = read_provenance(args.data, rows[0]["recording"]) or {}
            length_s = float(prov.get("epochs", {}).get("length_s", 0.0))
            if length_s <= 0:
                raise SystemExit(f"{args.data}: no epoch length in the provenance of "
                                 f"{rows[0]['recording']}")
        x_native = None
        if "riemann_ts" in specs:
            from pyriemann.estimation import Covariances

            start = time.perf_counter()
            x_native, ch_names, sfreq = clean_epochs(args.data, rows, length_s)
            log(f"raw epochs {x_native.shape} at {sfreq:g} Hz ({', '.join(ch_names)})")
            covs = recentre_per_subject(
                Covariances(estimator="oas").fit_transform(x_native.astype(np.float64)),
                subjects)
            prep["riemann_ts"] = time.perf_counter() - start
        if use_raw_nets:
            start = time.perf_counter()
            braindecode_models()  # its import (seconds) is preparation, not the first fold
            if x_native is not None and args.raw_sfreq in (0, sfreq):
                x_net, raw_sfreq = x_native, sfreq
            else:
                x_net, ch_names, raw_sfreq = clean_epochs(args.data, rows, length_s,
                                                          args.raw_sfreq or None)
                log(f"raw epochs {x_net.shape} at {raw_sfreq:g} Hz for the braindecode "
                    f"networks ({', '.join(ch_names)})")
            x_net = standardize_channels_per_subject(x_net, subjects)
            for s in RAW_NETS:
                prep[s] = time.perf_counter() - start
        del x_native

        scores: dict[str, list[dict]] = {}
        seconds: dict[str, float] = {}
        details: dict[str, list[dict]] = {}
        for k, split in enumerate(splits, start=1):
            test = np.isin(subjects, split.test)
            sets = {"train": np.isin(subjects, split.train), "val": np.isin(subjects, split.val),
                    "test": test}
            for spec in specs:
                start = time.perf_counter()
                info: dict = {}
                if spec in ("lr_global", "lr_subject"):
                    x = features if spec == "lr_global" else features_subject
                    pred = logistic_regression(x[~test], y[~test], x[test], LR_MAX_ITER)
                    metrics = classification_metrics(y[test], pred, classes)
                elif spec == "riemann_ts":
                    from pyriemann.tangentspace import TangentSpace

                    ts = TangentSpace(metric="riemann").fit(covs[~test])
                    pred = logistic_regression(ts.transform(covs[~test]), y[~test],
                                               ts.transform(covs[test]), LR_MAX_ITER)
                    metrics = classification_metrics(y[test], pred, classes)
                elif spec in RAW_NETS:
                    if args.threads > 0:
                        import torch

                        torch.set_num_threads(args.threads)
                    pred, info = fit_raw_net(spec, x_net, y, sets, raw_sfreq, classes, options)
                    metrics = classification_metrics(y[test], pred, classes)
                else:
                    run_dir = (args.out / spec.replace(":", "_").replace("@", "_").replace(
                        "=", "-") / f"fold-{k:02d}") if args.out else None
                    result, _ = train_on_split(args.data, run_dir, net_configs[spec],
                                               net_splits[spec][k - 1], progress=False)
                    metrics = result.report["test"]
                    info = {"best_epoch": result.best_epoch,
                            "val_balanced_accuracy": result.best_score}
                elapsed = time.perf_counter() - start
                seconds[spec] = seconds.get(spec, 0.0) + elapsed
                scores.setdefault(spec, []).append(metrics)
                details.setdefault(spec, []).append({"seconds": round(elapsed, 1), **info})
                log(f"fold {k}/{len(splits)} {spec}: balanced accuracy "
                    f"{metrics['balanced_accuracy']:.4f} ({elapsed:.1f} s)")

    methods = {}
    for spec in specs:
        methods[spec] = summarize_method(scores[spec], seconds[spec])
        methods[spec]["prep_seconds"] = round(prep.get(spec, 0.0), 1)
        methods[spec]["folds"] = details[spec]
        methods[spec]["description"] = DESCRIPTIONS.get(
            spec, f"eegemo {net_model(spec)} on topomaps (train_on_split)")
        if spec.startswith(NET):
            methods[spec]["overrides"] = [*threads, *args.overrides, *net_overrides(spec)]
    ranking = sorted(specs, key=lambda s: -methods[s]["balanced_accuracy"]["mean"])
    summary = {
        "data": str(args.data),
        "n_subjects": len(chosen),
        "n_epochs": len(rows),
        "classes": classes,
        "class_counts": np.bincount(y, minlength=len(classes)).tolist(),
        "folds": [{"train": list(s.train), "val": list(s.val), "test": list(s.test),
                   "n_train": int(np.isin(subjects, s.train).sum()),
                   "n_val": int(np.isin(subjects, s.val).sum()),
                   "n_test": int(np.isin(subjects, s.test).sum())} for s in splits],
        "config_overrides": [*threads, *args.overrides],
        "raw_nets": {**dataclasses.asdict(options), "sfreq": raw_sfreq},
        "threads": args.threads,
        "methods": methods,
        "ranking": ranking,
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        summary["versions"] = versions("numpy", "sklearn", "mne", "torch", "braindecode",
                                       "pyriemann")
    print(json.dumps(summary, indent=2))
    if args.markdown:
        table = markdown_table(methods, ranking)
        if args.markdown == "-":
            print("\n" + table, end="")
        else:
            Path(args.markdown).write_text(table, encoding="utf-8")


if __name__ == "__main__":
    main()
