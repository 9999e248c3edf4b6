"""Which band-power features does a trained EEG student read? Saliency of a finished run.

:func:`compute_run_saliency` reads a run folder (:func:`emokd.training.runs.load_run`), rebuilds
each fold's normalised test trials, computes the attributions of each student on them
(:mod:`emokd.saliency.attribution`: gradient, input x gradient, integrated gradients and
occlusion, with Captum; the student's trace windowed exactly as
:func:`emokd.training.train.predict` scores it) and aggregates them into maps on (band,
channel) (:mod:`emokd.saliency.aggregation`). It writes ``RUN_DIR/saliency.json`` (format
:data:`FORMAT`), with the Spearman rank correlation of each map with the planted
``truth_map`` of synthetic data and the AUC of the map for the planted features
(:func:`~emokd.saliency.aggregation.truth_auc`, which the truth's many ties at 0 do not cap).
Beside the models it stores a model-free reference, ``references.feature_correlation``:
each feature's |Pearson r| with valence over a fold's test steps
(:func:`~emokd.saliency.aggregation.feature_correlation`), and each student's *activation
pattern*, ``patterns.<model>``: each feature's |Pearson r| with the student's own output on
those steps (Haufe et al. 2014; :func:`~emokd.saliency.aggregation.pattern_reference`). The
reference shows what the data carries; the saliency maps show what a trained model reads (its
filter), which need not be the same: with correlated features (neighbouring bands of relative
power, volume conduction) a model may lean on features that carry no valence themselves, to
cancel noise in those that do; the pattern shows what its output varies with
(``studies/saliency_check.py`` measures the difference on a planted pattern).

The methods and the aggregation are re-exported here (``from emokd.saliency import
attributions, trial_maps, ...`` keeps working).
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import numpy as np
import torch

from .aggregation import (aggregate, data_reference, feature_correlation, mean_normalised_map, normalise,
                          pattern_reference, to_band_channel, to_lists, trial_maps)
from .attribution import METHODS, N_ALPHAS, N_CHANS, as_tensor, attributions, check_methods, model_trace, n_bands
from ..core.constants import BAND_NAMES, EEG_CHANNELS
from ..errors import EmokdError
from ..core.memory import call_and_release
from ..core.device import resolve_device
from ..core.fileio import write_json
from ..io.features import EEG_BANDS
from ..io.prepare import read_manifest
from ..synth.synthetic import TRUTH_FILE
from ..training.folddata import fold_inputs, run_trials
from ..training.runfolder import check_output_folder
from ..training.runs import load_run
from ..training.train import load_model

log = logging.getLogger(__name__)

#: ``saliency.json``'s layout. Version 2 (2026-12) calls the data's folder ``data_path`` (as results.json
#: does; ``data`` in version 1). Nothing reads that field back, so files of both versions load alike.
FORMAT = "emokd-saliency/2"
SALIENCY_FILE = "saliency.json"


def load_truth(data_dir: Path, data_format: str, expected_bands: int) -> dict | None:
    """The planted truth of synthetic data: prepared manifest "source" -> ground_truth.json."""
    if data_format != "prepared":
        return None
    source = (read_manifest(data_dir) or {}).get("source")
    path = Path(source) / TRUTH_FILE if source else None
    if path is None or not path.is_file():
        return None
    try:
        truth = json.loads(path.read_text())
        tm = np.asarray(truth.get("truth_map"), np.float64)
    except (OSError, UnicodeDecodeError, ValueError, TypeError, AttributeError) as err:
        raise EmokdError(f"{path}: field 'truth_map' is not readable ({err}); regenerate the data with "
                         "`python -m emokd synth`") from None
    if tm.shape != (expected_bands, N_CHANS) or list(truth.get("band_names", BAND_NAMES)) != list(BAND_NAMES):
        raise EmokdError(f"{path}: 'truth_map' has shape {tm.shape} and bands {truth.get('band_names')}, "
                         f"expected ({expected_bands}, {N_CHANS}) in the order {list(BAND_NAMES)}")
    return {"file": str(path), "map": tm}


def _check_models(run, models) -> None:
    bad = [m for m in models if m not in run.models or m == "teacher"]
    if bad or not models:
        students = [m for m in run.models if m != "teacher"]
        raise EmokdError(f"{run.where}: models {list(models)!r}: choose from the run's students "
                         f"{', '.join(students)} (the teacher reads faces, not band power)")


def compute_run_saliency(run_dir, *, methods=METHODS, models=("student", "student_kd"), device="cpu",
                         windowed: bool = True, n_threads: int | None = 1, write: bool = True, out=None,
                         n_jobs: int = 1) -> dict:
    """Saliency of each fold's students on its test trials; writes ``OUT/saliency.json``.

    ``out`` defaults to ``run_dir``; ``run_dir`` itself is only read (a finished run
    on a read-only share can write its saliency elsewhere); ``out`` must not be another
    run's folder (EmokdError).

    ``n_threads`` sets torch's CPU threads for the call (restored after; None: leave
    torch's setting). The default is 1: the batches are small, and on a 2-core CPU that
    another job kept busy, 2 threads were several times slower than 1, the threads waiting
    on each other (CHANGELOG.md has the measurement).

    ``n_jobs``: folds computed in parallel (joblib processes, ``n_threads`` torch threads
    each); the result is the same as with 1, fold for fold (each fold's models are
    evaluated alone, in the same order, with the same threads). The book's chapter uses
    2 (Binder and Colab have 2 cores).

    Reads the run with :func:`emokd.training.runs.load_run` (its folds' training/validation/test
    trials; z-scores from the training trials, :func:`emokd.training.folddata.fold_inputs`),
    loads ``folds/fold_XX/<model>.pt`` and computes :func:`attributions` on each test trial.

    Returns
    -------
    saliency : dict
        What ``saliency.json`` holds: ``format``, ``run`` and ``data_path`` (folders), ``bands``, ``channels``, ``methods``,
        ``truth`` ({"file", "map"} or None), ``models`` -> model -> method -> :func:`aggregate`'s
        entry (occlusion also has ``band_occlusion`` (n_bands,) and ``channel_occlusion`` (32,)),
        ``checks`` (max |trace - saved prediction| per model and fold), ``seconds``.
    """
    if n_threads is not None and n_threads < 1:
        raise EmokdError(f"n_threads={n_threads!r}: need >= 1")
    if write and out is not None:
        check_output_folder(run_dir, out)  # not another run's folder
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, int) or n_jobs < 1:
        raise EmokdError(f"n_jobs={n_jobs!r}: need a whole number >= 1")
    old = torch.get_num_threads()
    if n_threads:
        torch.set_num_threads(n_threads)
    try:
        return _run_saliency(Path(run_dir), tuple(methods), tuple(models), device, windowed, write, out,
                             n_jobs=n_jobs, n_threads=n_threads)
    finally:
        torch.set_num_threads(old)


def _student_trials(run) -> dict:
    # the students read band power only; the sessions without labels too, for the fold's training pool; the
    # labels as the run read them (permuted, with permute_labels)
    return run_trials(run.data_dir, run.config, frames=False)


def _check_every_feature(run) -> None:
    """EmokdError unless the run's students read every band x channel: saliency maps are band x channel
    grids, and a student of ``eeg_bands`` or ``drop_channels`` reads a subset of them."""
    cfg = run.config
    if cfg.student_columns is not None:
        raise EmokdError(f"{run.where}: its students read a subset of the EEG features (eeg_bands={cfg.eeg_bands!r}, "
                         f"drop_channels={cfg.drop_channels!r}); saliency maps every band x channel: not computed")


def _run_saliency(run_dir: Path, methods, models, device, windowed: bool, write: bool, out=None, *,
                  n_jobs: int = 1, n_threads: int | None = 1) -> dict:
    t0 = time.perf_counter()
    check_methods(methods)
    run = load_run(run_dir)
    _check_models(run, models)
    _check_every_feature(run)
    cfg, data = run.config, run.data_dir
    resolve_device(device)  # a bad device fails here, before any fold
    trials = _student_trials(run)
    n_feat = next(iter(trials.values()))["x"].shape[1]
    bands = list(BAND_NAMES) if cfg.data_format == "prepared" else list(_feature_bands())
    if len(bands) != n_bands(n_feat):
        raise EmokdError(f"{data}: {n_feat} student features, but {len(bands)} bands {bands} x {N_CHANS} channels")
    truth = load_truth(data, cfg.data_format, n_bands(n_feat))
    window = {"window_steps": cfg.student_train.window_steps if windowed else None,
              "hop_steps": cfg.student_train.hop_steps}
    numbers = [f.fold for f in run.folds]
    if n_jobs > 1 and len(numbers) > 1:
        from joblib import Parallel, delayed

        per_fold = Parallel(n_jobs=min(n_jobs, len(numbers)))(  # memory: see emokd.core.memory
            delayed(call_and_release)(_fold_saliency, run_dir, n, models, methods, window, device,
                                      n_threads=n_threads)
            for n in numbers)
    else:
        per_fold = [_fold_saliency(run_dir, n, models, methods, window, device, run=run, trials=trials)
                    for n in numbers]
    records = {m: {k: [] for k in (*methods, "occlusion_band", "occlusion_channel")} for m in models}
    checks = {m: {} for m in models}
    data_maps = []  # per fold: feature_correlation over its test steps
    pattern_maps = {m: [] for m in models}  # per model, per fold: feature_correlation with its output
    for number, (data_map, fold_records, fold_checks, fold_patterns) in zip(numbers, per_fold):  # in fold order
        data_maps.append((number, data_map))
        for name in models:
            pattern_maps[name].append((number, fold_patterns[name]))
            for k, recs in fold_records[name].items():
                records[name][k].extend(recs)
            diff = fold_checks[name]
            checks[name][str(number)] = diff
            if windowed and diff is not None and diff > 1e-3:
                log.warning("%s fold %d: recomputed predictions differ from the saved ones by %.3g "
                            "(did the data change since the run?)", name, number, diff)
    tm = truth["map"] if truth else None
    out_models = {}
    for name in models:
        out_models[name] = {m: aggregate(records[name][m], tm) for m in methods}
        if "occlusion" in methods:
            for group in ("band", "channel"):
                recs = records[name][f"occlusion_{group}"]
                out_models[name]["occlusion"][f"{group}_occlusion"] = to_lists(mean_normalised_map([r["maps"]["all"]
                                                                                          for r in recs]))
    saliency = {"format": FORMAT, "run": str(run_dir.resolve()), "data_path": str(data), "bands": bands,
                "channels": list(EEG_CHANNELS), "methods": list(methods),
                "windowing": window if windowed else "full-length", "ig_steps": N_ALPHAS, "baseline": 0.0,
                "truth": {"file": truth["file"], "map": truth["map"].tolist()} if truth else None,
                "models": out_models, "references": {"feature_correlation": data_reference(data_maps, tm)},
                "patterns": {name: pattern_reference(pattern_maps[name], tm) for name in models},
                "checks": {"max_abs_diff_vs_saved_predictions": checks},
                "seconds": round(time.perf_counter() - t0, 2)}
    if write:
        out = Path(out) if out is not None else run_dir
        out.mkdir(parents=True, exist_ok=True)
        write_json(out / SALIENCY_FILE, saliency)
    return saliency


def _fold_saliency(run_dir, number: int, models, methods, window: dict, device, *, run=None, trials=None,
                   n_threads: int | None = None):
    """One fold: its test steps' feature-correlation map (bands, channels), each model's attribution
    records (method -> list, in test-trial order), check and activation pattern (bands, channels).
    Reads the run itself when ``run`` is not given (a joblib worker)."""
    if n_threads:
        torch.set_num_threads(n_threads)
    run = run if run is not None else load_run(run_dir)
    trials = trials if trials is not None else _student_trials(run)
    fold = next(f for f in run.folds if f.fold == number)
    device = resolve_device(device)
    test = _test_inputs(run, fold, trials, run.config)
    x = np.concatenate([t["x"] for t in test])  # (all test steps, n_features)
    r = feature_correlation(x, np.concatenate([t["valence"] for t in test]))
    saved = run.predictions(number, missing_ok=True)
    records, checks, patterns = {}, {}, {}
    for name in models:
        records[name] = {k: [] for k in (*methods, "occlusion_band", "occlusion_channel")}
        checks[name], traces = _model_saliency(run, number, name, test, saved, methods, window, device,
                                               records[name])
        patterns[name] = to_band_channel(normalise(feature_correlation(x, np.concatenate(traces))))
    return to_band_channel(normalise(r)), records, checks, patterns


def _test_inputs(run, fold, trials: dict, cfg) -> list[dict]:
    """The fold's test trials, z-scored as the fold's models saw them."""
    missing = [k for k in fold.keys if k not in trials]
    if missing:
        raise EmokdError(f"{run.where}: fold {fold.fold} names trials {missing} that {run.data_dir} does not have")
    parts = fold_inputs(trials, fold, normalisation=cfg.normalisation, face_normalisation=cfg.face_normalisation).parts
    return parts["test"]


def _model_saliency(run, fold: int, name: str, test: list[dict], saved, methods, window, device,
                    records: dict) -> tuple[float | None, list[np.ndarray]]:
    """One student's attributions on a fold's test trials, appended to ``records`` (method -> list);
    returns max |recomputed trace - saved prediction| (None without saved predictions) and the
    student's trace of each test trial (n_steps,)."""
    model = load_model(run.model_path(fold, name), device=str(device)).model  # in eval mode
    diff, traces = 0.0, []
    for t in test:
        with torch.no_grad():
            trace = model_trace(model, as_tensor(t["x"], device)[None], **window)[0].cpu().numpy()
        traces.append(trace.astype(np.float64))
        if saved is not None and name in saved.get(t["key"], {}):
            diff = max(diff, float(np.abs(trace - saved[t["key"]][name]).max()))
        for method, a in attributions(model, t["x"], methods=methods, device=device, **window).items():
            records[method].append({"fold": fold, "subject": int(t["subject"]), "maps": trial_maps(a, t["valence"])})
    return (diff if saved is not None else None), traces


def _feature_bands():
    return EEG_BANDS


def summary_table(saliency: dict) -> str:
    """Markdown: truth_spearman and truth_auc per model and method, or band importance without a truth."""
    methods, bands = saliency["methods"], saliency["bands"]
    if saliency.get("truth") is not None:
        ref = saliency.get("references", {}).get("feature_correlation")
        parts = []
        for key, what in (
            ("truth_spearman", "Spearman rank correlation of the saliency map with the planted truth map"),
            ("truth_auc", "AUC: how often a planted feature gets more saliency than an unplanted one"),
        ):
            lines = ["| model | " + " | ".join(methods) + " |", "|---|" + "---:|" * len(methods)]
            for name, entry in saliency["models"].items():
                cells = [entry[m].get(key) for m in methods]
                lines.append(f"| {name} | " + " | ".join("n/a" if c is None else f"{c:.3f}" for c in cells) + " |")
            text = what + "\n\n" + "\n".join(lines)
            if ref is not None and ref.get(key) is not None:
                text += ("\n\nThe data without a model (each feature's |r| with valence on the test steps): "
                         f"{ref[key]:.3f}")
            pats = {m: p.get(key) for m, p in saliency.get("patterns", {}).items() if p.get(key) is not None}
            if pats:
                text += ("\n\nEach student's activation pattern (each feature's |r| with the student's own output): "
                         + ", ".join(f"{m} {v:.3f}" for m, v in pats.items()))
            parts.append(text)
        return "\n\n".join(parts)
    lines = ["| model | method | " + " | ".join(bands) + " |", "|---|---|" + "---:|" * len(bands)]
    for name, entry in saliency["models"].items():
        for m in methods:
            lines.append(f"| {name} | {m} | " + " | ".join(f"{v:.3f}" for v in entry[m]["band_importance"]) + " |")
    ref = saliency.get("references", {}).get("feature_correlation")
    if ref is not None:
        lines.append("| data, no model | \\|r\\| with valence | "
                     + " | ".join(f"{v:.3f}" for v in ref["band_importance"]) + " |")
    return "Band importance (share of the saliency map)\n\n" + "\n".join(lines)
