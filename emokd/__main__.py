"""Command line: ``python -m emokd <command> ...`` (``--help`` on each).

    synth    write a synthetic MAHNOB-HCI-like dataset (preset, seed, planted pattern)
    prepare  turn a MAHNOB-HCI-layout folder (synthetic or real) into per-trial arrays
    run      teacher -> knowledge -> student -> KD student over LOSO or TRS folds
    report   tables and figures of a finished run
    saliency which band-power features the students read (saliency on band x channel)
    pretrain-face  pretrain the teacher's face backbone on identities of no data set
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import json
import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path

import numpy as np

from .core.constants import EEG_CHANNELS
from .core.config import (
    PRESETS,
    SYNTH_TRUTH_GROUP,
    PlantedComponent,
    PrepareConfig,
    experiment_config,
    on_feature_release,
    run_options,
    synth_config,
    synth_options,
)
from . import LOG_FORMAT, LOG_LEVEL_ENV
from .errors import EmokdError


def _bands(text: str) -> list[tuple[float, float]]:
    """'18-30,30-45' -> [(18.0, 30.0), (30.0, 45.0)]"""
    try:
        pairs = [tuple(float(v) for v in part.split("-")) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"bands must look like '18-30,30-45' (Hz), got {text!r}") from None
    if any(len(p) != 2 for p in pairs):
        raise argparse.ArgumentTypeError(f"bands must look like '18-30,30-45' (Hz), got {text!r}")
    return pairs


def _channels(text: str) -> tuple[str, ...]:
    names = tuple(c.strip() for c in text.split(",") if c.strip())
    bad = [c for c in names if c != "all" and c not in EEG_CHANNELS]
    if bad or not names:
        raise argparse.ArgumentTypeError(f"unknown channel(s) {bad or text!r}; use 'all' or names from {', '.join(EEG_CHANNELS)}")
    return names


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m emokd", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"emokd {_version()}")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="show progress messages (resumed trainings, reused folds and data, skipped trials), "
                             "also from the folds' worker processes; before the command: "
                             "python -m emokd --verbose run ...")
    sub = parser.add_subparsers(dest="command", required=True, metavar="command")

    p = sub.add_parser("synth", help="write a synthetic MAHNOB-HCI-like dataset",
                       description="Write a synthetic dataset in the MAHNOB-HCI layout with a planted ground truth.")
    p.add_argument("--preset", choices=PRESETS, default="book", help="dataset size (default: book)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.add_argument("--n-jobs", type=int, default=1,
                   help="sessions written at once (default 1; -1: one per core); the files are the same with any")
    g = p.add_argument_group(SYNTH_TRUTH_GROUP)
    g.add_argument("--planted-bands", type=_bands, metavar="LO-HI,...",
                   help="bands whose power follows valence, in Hz (default 18-30,30-45: beta and gamma)")
    g.add_argument("--planted-channels", type=_channels, metavar="NAMES",
                   help="channels where it does: 'all' (default) or names, e.g. Fp1,AF3,F3,Fp2,AF4,F4")
    _add_config_options(p, synth_options(), g)

    p = sub.add_parser("prepare", help="prepare per-trial arrays from a MAHNOB-HCI-layout folder",
                       description="Read every labelled trial (BDF via MNE, labels, face frames), compute band "
                                   "power and write DIR/prepared/*.npz plus manifest.json.")
    p.add_argument("dir", type=Path, help="folder with lable_continous_Mahnob.mat and Sessions/")
    p.add_argument("--out", type=Path, help="output folder (default: DIR/prepared)")
    p.add_argument("--skip-bad", action="store_true", help="record bad trials in the manifest and go on")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--unlabelled", action="store_true",
                   help="also prepare the stimulus sessions with EEG and face frames but no row in the label file, "
                        "marked unlabelled in the manifest (valence NaN, length from the stimulus); runs on the "
                        "folder give them to the taught students of the training subjects (default: labelled only)")
    g = p.add_argument_group("face frames from the frontal camera (the 'video' extra)")
    g.add_argument("--faces", choices=("auto", "video", "none"), default="auto",
                   help="make a session's missing face_frames.npz from its camera file: auto (when camera files are "
                        "there and the extra is installed; default), video (always), none")
    g.add_argument("--n-jobs", type=int, default=1, help="sessions whose face frames are made at once (default 1; "
                                                         "-1: one per core)")
    g.add_argument("--video-align", choices=("bdf", "stimulus"), default="stimulus",
                   help="the camera's time 0: the stimulus start (default: frame 0 is the stimulus onset, as every "
                        "public loader of the database takes it) or the BDF's start")

    p = sub.add_parser("run", help="teacher -> knowledge -> student -> KD student over folds",
                       description="Train the visual teacher, extract its knowledge, train the EEG student with and "
                                   "without distillation in every fold of LOSO or TRS, and write OUT/results.json, "
                                   "results.md, results.csv and figures. Without --data, the synthetic dataset of "
                                   "the preset is generated (seed --seed) and prepared under OUT/data.")
    p.add_argument("--out", type=Path, required=True, help="run folder")
    p.add_argument("--data", type=Path, help="a prepared folder (manifest.json), a MAHNOB-HCI-layout folder, or the "
                                             "public feature release (label file + Features/): teacher on facial "
                                             "features, student on EEG features")
    p.add_argument("--n-jobs", type=int,
                   help="folds in parallel (joblib; default 1, with --scheduler -1: as many as the cluster runs); "
                        "changes the run time, never a number")
    p.add_argument("--backend", help="joblib backend, e.g. loky (default) or threading")
    p.add_argument("--scheduler", metavar="ADDRESS|FILE",
                   help="run the folds on a Dask cluster: its scheduler's address (tcp://host:8786) or scheduler "
                        "file (dask scheduler --scheduler-file, dask-jobqueue); the workers must see --data and "
                        "--out at the same paths")
    p.add_argument("--folds", type=fold_numbers, metavar="N,LO-HI,...",
                   help="run only these folds (0-based), e.g. one share of a run split over machines or sessions; "
                        "results.json is written once every fold is finished")
    p.add_argument("--fold-records", type=Path, metavar="DIR",
                   help="take finished folds from DIR/fold_XX.json (copies of folds/fold_XX/fold.json made "
                        "elsewhere; checked to be this configuration's on this data) instead of running them")
    p.add_argument("--fresh", action="store_true",
                   help="start over: ignore finished folds and checkpoints in OUT, and write into an OUT that "
                        "holds another configuration's run, a run on other data, or files emokd did not write "
                        "(emokd's files there are replaced; others are left alone)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    _add_config_options(p, run_options(),
                        p.add_argument_group("the experiment (fields of emokd.core.config.ExperimentConfig)"))
    g = p.add_argument_group("training budget (several fields at once)")
    g.add_argument("--max-epochs", type=int, help="override the preset's maximum epochs")
    g.add_argument("--student-max-epochs", type=int, metavar="N",
                   help="override the students' maximum epochs only (the teacher keeps the preset's): a student's "
                        "training budget varied alone")

    p = sub.add_parser("report", help="tables and figures of a finished run",
                       description="Read DIR/results.json and write results.md, results.csv and figures/.")
    p.add_argument("dir", type=Path, help="a run folder (with results.json); only read")
    p.add_argument("--out", type=Path, help="where to write (default: DIR; give it for a read-only run folder)")

    p = sub.add_parser("saliency", help="which band-power features the students read",
                       description="Saliency of each fold's students on its test trials, mapped onto band x "
                                   "channel; writes DIR/saliency.json and prints the Spearman correlation with "
                                   "the planted truth (synthetic data) or the band importance.")
    p.add_argument("dir", type=Path, help="a run folder (with results.json)")
    p.add_argument("--methods", type=_names, default=None, metavar="M,...",
                   help="gradient, grad_x_input, integrated_gradients, occlusion (default: all)")
    p.add_argument("--models", type=_names, default=("student", "student_kd"), metavar="NAME,...",
                   help="students of the run (default: student,student_kd)")
    p.add_argument("--device", default="cpu", help="cpu (default), cuda, auto, ...")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1: fastest on a busy CPU)")
    p.add_argument("--n-jobs", type=int, default=1, help="folds in parallel, each with --threads threads (default 1; "
                                                         "the result is the same)")
    p.add_argument("--out", type=Path, help="where to write saliency.json (default: DIR, which is only read)")
    p.add_argument("--full-length", action="store_true",
                   help="one pass over each whole trial instead of predict's 96-step windows")

    p = sub.add_parser("pretrain-face", help="pretrain the teacher's face backbone (emokd ships the result)",
                       description="Pretrain the teacher's frame CNN once on synthetic faces of identities that no "
                                   "data set uses (face seeds from 2**31 on), labelled with what a facial-expression "
                                   "data set would give (valence, drawn expression, eye closure). Writes FILE (the "
                                   "state dict) and FILE with .json (config, held-out frame-level CCC, SHA-256). "
                                   "emokd's own copy: emokd/data/face_backbone.pt.")
    p.add_argument("--out", type=Path, required=True, help="weights file to write, e.g. face_backbone.pt")
    p.add_argument("--epochs", type=int, help="training epochs (default: the recipe's)")
    p.add_argument("--identities", type=int, help="training identities (default: the recipe's)")
    p.add_argument("--seed", type=int, default=0, help="seed of the clips and the training (default 0)")
    p.add_argument("--device", default="cpu", help="cpu (default), cuda, auto, ...")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def _version() -> str:
    """The installed distribution's version, else the package's own (run from a source tree)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("emokd")
    except PackageNotFoundError:
        from . import __version__

        return __version__


def _names(text: str) -> tuple[str, ...]:
    names = tuple(v.strip() for v in text.split(",") if v.strip())
    if not names:
        raise argparse.ArgumentTypeError(f"expected comma-separated names, got {text!r}")
    return names


def fold_numbers(text: str) -> tuple[int, ...]:
    """``"0-11,15"`` -> (0, 1, ..., 11, 15)."""
    out = []
    try:
        for part in (v.strip() for v in text.split(",")):
            if not part:
                continue
            lo, _, hi = part.partition("-")
            lo, hi = int(lo), int(hi) if hi else int(lo)
            if lo < 0 or hi < lo:
                raise ValueError
            out.extend(range(lo, hi + 1))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected fold numbers and ranges like 0-11,15, got {text!r}") from None
    if not out:
        raise argparse.ArgumentTypeError(f"no fold numbers in {text!r}")
    return tuple(sorted(set(out)))


def _floats(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None


def _ints(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated whole numbers, got {text!r}") from None


def _check_seed(seed: int) -> None:
    if seed < 0:
        raise EmokdError(f"--seed {seed}: need >= 0")


def _check_out(out: Path) -> None:
    """An output folder that exists and is writable, or can be created: checked before any work."""
    parent = out
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise EmokdError(f"--out {out}: {parent} is a file, not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise EmokdError(f"--out {out}: {parent} is not writable")


def _check_device(device: str) -> None:
    import torch

    from .core.config import DEVICE_TYPES, is_device_name
    from .core.device import resolve_device

    if not is_device_name(device):  # torch knows more (meta, xpu, ...): none of them runs emokd
        raise EmokdError(f"--device {device}: choose auto, {', '.join(DEVICE_TYPES)} or cuda:N")

    dev = resolve_device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise EmokdError(f"--device {device}: CUDA is not available on this machine (use cpu or auto)")
    if dev.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise EmokdError(f"--device {device}: Apple MPS is not available on this machine (use cpu or auto)")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise EmokdError(f"--device {device}: this machine has {torch.cuda.device_count()} CUDA device(s)")


def _check_backend(backend: str | None) -> None:
    if backend is None:
        return
    from joblib.parallel import BACKENDS

    if backend == "dask":
        try:
            from distributed import get_client

            get_client()
        except (ImportError, ValueError) as err:
            raise EmokdError(f"--backend dask: no running dask.distributed Client ({err}); name the cluster "
                             "with --scheduler ADDRESS instead") from None
    elif backend not in BACKENDS:
        raise EmokdError(f"--backend {backend}: unknown joblib backend; choose one of {', '.join(sorted(BACKENDS))}")


def _check_n_jobs(n_jobs: int | None) -> None:
    if n_jobs is not None and (n_jobs == 0 or n_jobs < -1):
        raise EmokdError(f"--n-jobs {n_jobs}: need >= 1 (or -1 for all cores)")


def _synth(args) -> None:
    from .synth.synthetic import generate

    # the options of synth_options() set their SynthConfig fields; one not given keeps the preset's value
    overrides = {o.path[-1]: value for o in synth_options() if (value := getattr(args, o.dest)) is not None}
    if args.planted_bands or args.planted_channels:
        bands = args.planted_bands or [(c.lo_hz, c.hi_hz) for c in synth_config(args.preset).pattern]
        channels = args.planted_channels or ("all",)
        overrides["pattern"] = tuple(PlantedComponent(lo, hi, channels) for lo, hi in bands)
    cfg = synth_config(args.preset, **overrides)
    _check_seed(args.seed)
    _check_out(args.out)
    _check_n_jobs(args.n_jobs)
    t0 = time.perf_counter()
    truth = generate(args.out, cfg, seed=args.seed, n_jobs=args.n_jobs)
    tm = np.array(truth["truth_map"])
    top = np.argsort(tm.sum(axis=1))[::-1]
    extra = len(truth.get("unlabelled_trials", []))
    print(f"wrote {len(truth['trials'])} trials{f' (+{extra} without labels)' if extra else ''} of "
          f"{len(cfg.trials_per_subject)} subjects to {args.out} "
          f"in {time.perf_counter() - t0:.1f} s (preset {args.preset}, seed {args.seed})")
    print("planted: " + ", ".join(f"{truth['band_names'][b]} ({tm[b].sum():.1f})" for b in top if tm[b].sum() > 0)
          + f"; truth in {args.out / 'ground_truth.json'}")


def _prepare(args) -> None:
    from .io.prepare import prepare_dataset

    _check_n_jobs(args.n_jobs)
    t0 = time.perf_counter()
    manifest = prepare_dataset(args.dir, args.out, PrepareConfig(), progress=not args.quiet,
                               on_error="skip" if args.skip_bad else "raise", faces=args.faces, n_jobs=args.n_jobs,
                               video_align=args.video_align, unlabelled=args.unlabelled)
    trials = manifest["trials"].values()
    steps = np.array([t["n_steps"] for t in trials])
    subjects = sorted({t["subject"] for t in trials})
    out = args.out or args.dir / "prepared"
    frames = [t["shapes"].get("frames") for t in trials]
    without = sum(t.get("labelled", True) is False for t in trials)
    print(f"prepared {len(steps)} trials{f' ({without} without labels)' if args.unlabelled else ''} of "
          f"{len(subjects)} subjects in {time.perf_counter() - t0:.1f} s "
          f"({manifest['n_skipped']} already prepared, {len(manifest['failed'])} failed) -> {out}")
    if len(steps):
        print(f"  label steps: {steps.sum()} in all ({steps.sum() / 4 / 60:.1f} min at 4 Hz), "
              f"{steps.min()}-{steps.max()} per trial")
        print(f"  per trial: eeg_bp (n_steps, 6 bands, 32 channels), valence (n_steps,), "
              f"frames {'(n_steps, %d, %d, %d)' % tuple(frames[0][1:]) if frames[0] else 'none'}")
    for key, err in manifest["failed"].items():
        print(f"  failed {key}: {err}")
    for key, why in manifest.get("unlabelled_sessions", {}).get("left_out", {}).items():
        print(f"  left out (no labels, no pair) {key}: {why}")


def _is_feature_release(folder: Path) -> bool:
    return (folder / "lable_continous_Mahnob.mat").is_file() and not (folder / "Sessions").is_dir() and any(
        (folder / sub).is_dir() for sub in ("Features", "features"))


def _data_for_run(args) -> Path:
    """The data folder of a run: prepared, the feature release, prepared from --data, or synthetic."""
    from .io.prepare import MANIFEST, prepare_dataset

    if args.data is not None:
        if (args.data / MANIFEST).exists() or _is_feature_release(args.data):
            return args.data
        if not args.data.is_dir():
            raise EmokdError(f"--data {args.data}: no such folder")
        out = args.out / "prepared"
        prepare_dataset(args.data, out, PrepareConfig(), progress=not args.quiet)
        return out
    from .synth.synthetic import ensure_generated

    data = args.out / "data"
    ensure_generated(data, synth_config(args.preset), seed=args.seed, progress=not args.quiet)
    prepare_dataset(data, data / "prepared", PrepareConfig(), progress=not args.quiet)
    return data / "prepared"


#: how ``run`` reads an option's value, by the annotation of the configuration field it sets
_OPTION_TYPES = {"int": int, "int | None": int, "float": float, "str": str, "tuple[float, ...]": _floats,
                 "tuple[str, ...]": _names, "tuple[int, ...]": _ints}


def _add_config_options(p: argparse.ArgumentParser, options, first) -> None:
    """A command's options that set configuration fields: one per ``options`` (``run``'s
    :func:`emokd.core.config.run_options`, ``synth``'s :func:`emokd.core.config.synth_options`), with the help,
    choices and default declared on the field; an option of group None goes into ``first``, the others into
    their groups, each made on its first option."""
    groups = {None: first}
    for o in options:
        if o.option.group not in groups:
            groups[o.option.group] = p.add_argument_group(o.option.group)
        groups[o.option.group].add_argument(o.flag, dest=o.dest, type=_OPTION_TYPES[o.type], choices=o.option.choices,
                                            default=o.default, metavar=o.option.metavar, help=o.option.help)


def experiment_config_from_args(args):
    """The ExperimentConfig of ``run``'s options (before the data decides on :func:`on_feature_release`).

    The options of :func:`emokd.core.config.run_options` set their fields (one given as None keeps the
    preset's value); ``--max-epochs`` and ``--student-max-epochs`` set several budgets at once."""
    import dataclasses

    for name in ("n_folds", "trs_folds"):  # LOSO has one fold per subject: silently ignoring them misleads
        if args.protocol != "trs" and getattr(args, name) is not None:
            raise EmokdError(f"--{name.replace('_', '-')} {getattr(args, name)}: only --protocol trs has it "
                             f"({args.protocol.upper()} folds are the subjects); drop it or add --protocol trs")
    given = {o.path: value for o in run_options() if (value := getattr(args, o.dest)) is not None}
    budgets = given.pop(("student_budgets",), ())  # checked against the students' budget, set below
    # what the preset itself is made of (experiment_config's arguments); the rest overrides its fields
    cfg = experiment_config(given.pop(("preset",)), given.pop(("protocol",)), given.pop(("seed",)),
                            backbone=given.pop(("teacher", "backbone")))
    if args.max_epochs is not None and cfg.face_teacher_max_epochs is not None:
        given[("face_teacher_max_epochs",)] = args.max_epochs  # else the face teacher has the students' budget
    parts = {}
    for path, value in given.items():
        if len(path) == 2:
            parts.setdefault(path[0], {})[path[1]] = value
    cfg = dataclasses.replace(cfg, **{path[0]: value for path, value in given.items() if len(path) == 1},
                              **{name: dataclasses.replace(getattr(cfg, name), **fields)
                                 for name, fields in parts.items()})
    if args.max_epochs is not None:
        cfg = dataclasses.replace(cfg, teacher_train=dataclasses.replace(cfg.teacher_train, max_epochs=args.max_epochs),
                                  student_train=dataclasses.replace(cfg.student_train, max_epochs=args.max_epochs))
    if args.student_max_epochs is not None:
        if args.student_max_epochs < 1:
            raise EmokdError(f"--student-max-epochs {args.student_max_epochs}: need >= 1")
        if cfg.face_teacher_max_epochs is None:  # on the feature release the teacher trains with the students'
            # settings: it keeps the budget it had
            cfg = dataclasses.replace(cfg, face_teacher_max_epochs=cfg.student_train.max_epochs)
        cfg = dataclasses.replace(cfg, student_train=dataclasses.replace(cfg.student_train,
                                                                         max_epochs=args.student_max_epochs))
    if budgets:
        cfg = dataclasses.replace(cfg, student_budgets=budgets)
    return cfg


def _run(args) -> None:
    from .evaluation.experiment import fold_record_files, run_experiment
    from .evaluation.report import markdown_table, write_report
    from .training.runfolder import check_claim, check_same, claim, run_lock

    _check_n_jobs(args.n_jobs)
    if args.scheduler is not None and args.backend is not None:
        raise EmokdError(f"--scheduler {args.scheduler} and --backend {args.backend}: give one (--scheduler runs "
                         "the folds on Dask)")
    _check_device(args.device)
    cfg = experiment_config_from_args(args)
    if args.data is not None and not args.data.is_dir():
        raise EmokdError(f"--data {args.data}: no such folder")
    _check_seed(args.seed)
    _check_backend(args.backend)
    _check_out(args.out)
    if args.fold_records is not None:
        fold_record_files(args.fold_records)  # a missing or empty folder: refused before any work
    if args.data is not None and _is_feature_release(args.data):
        cfg = on_feature_release(cfg)
    check_claim(args.out, fresh=args.fresh)  # a folder refused gets no lock file either
    args.out.mkdir(parents=True, exist_ok=True)
    with run_lock(args.out):
        # Before any data is written under OUT: the folder is new, emokd's, or refused, and an earlier
        # run of another configuration is refused (the data are compared once they are prepared)
        marker = claim(args.out, fresh=args.fresh)
        if marker.get("config") is not None:
            check_same(args.out, marker["config"], None, json.loads(json.dumps(cfg.to_json())), None)
        prepared = _data_for_run(args)
        with _cluster(args, prepared) as backend:
            # absolute: a Dask worker's working folder is not this one
            results = run_experiment(Path(prepared).resolve(), cfg, args.out.resolve(), backend=backend,
                                     n_jobs=args.n_jobs or (-1 if args.scheduler else 1), progress=not args.quiet,
                                     resume=not args.fresh, folds=args.folds, fold_records=args.fold_records)
        if results.get("partial"):
            print(f"{len(results['done'])} of {results['n_folds']} {args.protocol.upper()} folds finished in "
                  f"{args.out} (missing: {fold_ranges(results['missing'])}); results.json is written once every "
                  f"fold is (run the rest with --folds {fold_ranges(results['missing'])})")
            return
        paths = write_report(args.out)
    print(markdown_table(results))
    print(f"\n{results['n_folds']} {args.protocol.upper()} folds in {results['runtime_s']:.0f} s -> "
          f"{args.out / 'results.json'}, {paths['markdown'].name}, {paths['csv'].name}, figures/")


@contextlib.contextmanager
def _cluster(args, prepared: Path):
    """The joblib backend of the run: ``--backend`` as given, or ``"dask"`` on the cluster of
    ``--scheduler`` (connected for the block, its workers checked to see the data and the run folder)."""
    if args.scheduler is None:
        yield args.backend
        return
    from .evaluation.cluster import scheduler_client

    with scheduler_client(args.scheduler, read=[Path(prepared).resolve()], write=[args.out.resolve()]):
        yield "dask"


def fold_ranges(numbers) -> str:
    """[0, 1, 2, 5] -> ``"0-2,5"`` (what --folds reads)."""
    parts, numbers = [], sorted(numbers)
    for n in numbers:
        if parts and n == parts[-1][1] + 1:
            parts[-1][1] = n
        else:
            parts.append([n, n])
    return ",".join(f"{a}" if a == b else f"{a}-{b}" for a, b in parts)


def _report(args) -> None:
    from .evaluation.report import load_results, markdown_table, write_report

    results = load_results(args.dir)
    out = args.out or args.dir
    _check_writable(out, "--out" if args.out else "DIR")
    paths = write_report(args.dir, out)
    print(markdown_table(results))
    print("\nwrote " + ", ".join(str(p) for p in paths.values() if not isinstance(p, list)))


def _saliency(args) -> None:
    from .saliency.attribution import METHODS
    from .saliency.run import compute_run_saliency, summary_table

    if args.threads < 1:
        raise EmokdError(f"--threads {args.threads}: need >= 1")
    _check_device(args.device)  # before the models are loaded onto it
    out = args.out or args.dir
    _check_writable(out, "--out" if args.out else "DIR")
    sal = compute_run_saliency(args.dir, methods=args.methods or METHODS, models=args.models, device=args.device,
                               windowed=not args.full_length, n_threads=args.threads, out=out,
                               n_jobs=args.n_jobs)
    print(summary_table(sal))
    print(f"\n{len(sal['models'])} model(s) x {len(sal['methods'])} method(s) in {sal['seconds']:.1f} s "
          f"-> {out / 'saliency.json'}")


def _check_writable(folder: Path, what: str) -> None:
    """Refuse, before any work, an output folder that cannot be written (a read-only run folder)."""
    import os

    target = folder if folder.exists() else next((p for p in folder.parents if p.exists()), Path("."))
    if not target.is_dir() or not os.access(target, os.W_OK):
        hint = "; write the outputs elsewhere with --out" if what == "DIR" else ""
        raise EmokdError(f"{what} {folder}: not a writable folder{hint}")


def _pretrain_face(args) -> None:
    import dataclasses

    from .training.pretraining import FacePretrainConfig, pretrain_face_backbone, save_backbone
    from .nn.backbone import card_path
    from .core.device import resolve_device

    _check_seed(args.seed)
    _check_device(args.device)
    if card_path(args.out, check=False) == args.out:  # before training, not when the card is written
        raise EmokdError(f"--out {args.out}: the card {args.out.name} written beside the weights would overwrite "
                         f"them; give the weights another suffix, e.g. {args.out.with_suffix('.pt')}")
    overrides = {"seed": args.seed}
    if args.epochs is not None:
        overrides["epochs"] = args.epochs
    if args.identities is not None:
        overrides["n_identities"] = args.identities
    cfg = dataclasses.replace(FacePretrainConfig(), **overrides)
    result = pretrain_face_backbone(cfg, device=str(resolve_device(args.device)), progress=not args.quiet)
    card = save_backbone(result, args.out)
    print(f"pretrained on {card['n_frames']} frames of {cfg.n_identities} identities in {card['seconds']:.0f} s; "
          "held-out identities, frame-level CCC: " + ", ".join(f"{k} {v:.3f}" for k, v in card["heldout"].items()))
    print(f"wrote {args.out} (sha256 {card['sha256'][:16]}...) and {card_path(args.out)}")


class _Terminated(KeyboardInterrupt):
    """SIGTERM (``kill``, a scheduler's time limit), raised where the main thread is: the command stops
    as on Ctrl-C (written files and checkpoints are kept) and :func:`main` says so in one line."""


def _raise_terminated(signum, frame):
    raise _Terminated


@contextlib.contextmanager
def _sigterm_stops_like_ctrl_c():
    """Within the block, SIGTERM raises :class:`_Terminated` (main thread only: Python sets handlers there)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(argv=None) -> int:
    logging.basicConfig(level=logging.WARNING, format=LOG_FORMAT)
    parser = build_parser()
    args = parser.parse_args(argv)
    emokd_log = logging.getLogger("emokd")
    level_before, env_before = emokd_log.level, os.environ.get(LOG_LEVEL_ENV)
    if args.verbose:
        emokd_log.setLevel(logging.INFO)
        os.environ[LOG_LEVEL_ENV] = "INFO"  # for the folds' worker processes (joblib), see emokd/__init__.py
    try:
        with _sigterm_stops_like_ctrl_c():
            {"synth": _synth, "prepare": _prepare, "run": _run, "report": _report,
             "saliency": _saliency, "pretrain-face": _pretrain_face}[args.command](args)
    except EmokdError as err:
        print(f"emokd {args.command}: error: {err}", file=sys.stderr)
        return 2
    except OSError as err:  # a system failure (disk full, read-only, a file where a folder should be): one line
        reason = "disk full" if err.errno == errno.ENOSPC else (err.strerror or str(err))
        where = f"{err.filename}: " if err.filename else ""
        print(f"emokd {args.command}: error: {where}{reason}", file=sys.stderr)
        return 2
    except _Terminated:
        print(f"emokd {args.command}: terminated by SIGTERM (completed files are kept; rerun to continue)",
              file=sys.stderr)
        return 128 + signal.SIGTERM  # 143, as a shell reports a process that SIGTERM ended
    except KeyboardInterrupt:
        print(f"emokd {args.command}: interrupted (completed files are kept; rerun to continue)", file=sys.stderr)
        return 130
    finally:  # main() called from Python leaves logging as it found it
        emokd_log.setLevel(level_before)
        if env_before is None:
            os.environ.pop(LOG_LEVEL_ENV, None)
        else:
            os.environ[LOG_LEVEL_ENV] = env_before
    return 0


if __name__ == "__main__":
    sys.exit(main())
