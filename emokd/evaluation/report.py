"""Tables and figures from a finished run folder.

A run folder ``DIR`` holds ``DIR/results.json`` (:data:`emokd.training.runs.FORMAT`: the
per-fold metrics of every model, see :func:`load_results`) and, per fold, an
``.npz`` of test-set predictions. :func:`write_report` turns it into::

    DIR/results.md                       summary table, paired tests, figure links
    DIR/results.csv                      per-fold metrics + mean and sd rows
    DIR/figures/fold_ccc.png             concatenated CCC per fold and model
    DIR/figures/predictions_fold_XX.png  true vs predicted valence, test trials

The run folder is read by :mod:`emokd.training.runs`; the tables are computed from its long
DataFrame of per-fold metrics (:func:`emokd.training.runs.metrics_frame`: mean and sample SD
over folds, as the paper reports them); the ``summary`` stored in ``results.json`` is
only checked against them. Nothing here picks a matplotlib backend: the book draws
inline, scripts and tests set ``MPLBACKEND=Agg``; figures this module saves are closed.
Every model keeps its colour of :mod:`emokd.core.style`, and the saved figures are drawn in
its house style.
"""

from __future__ import annotations

import csv
import io
import logging
import math
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from ..errors import EmokdError
from ..core import style
from ..core.fileio import atomic_path, write_text
from ..core.metrics import METRICS
from ..training.runs import SCHEMES, Run, check_results, load_run, metrics_frame, read_results
from .stats import paired_tests, summarise
from ..training.runfolder import check_output_folder

log = logging.getLogger(__name__)

#: the tables' order of :data:`emokd.core.metrics.METRICS`: the headline metric first (ccc, pcc, rmse)
TABLE_METRICS = METRICS[::-1]
_LABEL = {"ccc": "CCC", "pcc": "PCC", "rmse": "RMSE"}
_STORED_SUMMARY = {"concatenated": "summary", "per_trial": "summary_per_trial"}


# -- loading ------------------------------------------------------------------------

def load_results(run_dir) -> dict:
    """Read and check ``run_dir/results.json`` (:func:`emokd.training.runs.read_results`; an older
    layout is read as the current one)."""
    return read_results(run_dir)


def load_predictions(run_dir, fold: int) -> dict[str, dict[str, np.ndarray]]:
    """Test-set predictions of one fold (``fold``: its ``"fold"`` number in results.json).

    Returns
    -------
    predictions : dict
        trial key -> ``{"true": ndarray, model: ndarray, ...}``, each float32, shape
        (n_steps,), valence at 4 Hz (the label rate); trials sorted by key.
    """
    return load_run(run_dir).predictions(fold)


# -- tables -------------------------------------------------------------------------

def _frame(results: dict):
    """The checked results' :func:`emokd.training.runs.metrics_frame` (fold, model, scheme, metric, value)."""
    check_results(results, "results")
    return metrics_frame(results)


def _fold_values(frame, model: str, scheme: str, metric: str) -> np.ndarray:
    """One metric of one model over folds, shape (n_folds,), in fold-list order."""
    rows = (frame["model"] == model) & (frame["scheme"] == scheme) & (frame["metric"] == metric)
    return frame.loc[rows, "value"].to_numpy(dtype=float)


def _same(x, y) -> bool:
    x, y = float(x), float(y)
    return (math.isnan(x) and math.isnan(y)) or math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-12)


def results_table(results: dict, *, per_trial: bool = False) -> list[dict]:
    """Mean and sample SD over folds, one row per model x metric.

    Rows are ``{"model", "scheme", "metric", "mean", "sd", "n"}`` in the order of
    ``results["models"]`` and ``results["references"]``, then ccc, pcc, rmse; ``sd`` is ``nan`` with one fold.
    A stored summary that disagrees with the per-fold metrics is logged.
    """
    frame = _frame(results)
    scheme = SCHEMES[1] if per_trial else SCHEMES[0]
    stored = results.get(_STORED_SUMMARY[scheme]) or {}
    rows = []
    for model in _rows(results):
        for metric in TABLE_METRICS:
            s = summarise(_fold_values(frame, model, scheme, metric))
            old = stored.get(model, {}).get(metric)
            if old is not None and not all(_same(s[k], old.get(k, math.nan)) for k in ("mean", "sd")):
                log.warning("stored %s %s.%s = %s disagrees with the folds: %s",
                            _STORED_SUMMARY[scheme], model, metric, old, s)
            rows.append({"model": model, "scheme": scheme, "metric": metric, **s})
    return rows


def _rows(results: dict) -> list[str]:
    """The table's rows: the trained models, then the untrained reference points."""
    return results["models"] + results.get("references", [])


def _folds(n) -> str:
    return f"{n} fold" if n == 1 else f"{n} folds"


def _num(x: float, spec: str) -> str:
    return "n/a" if x is None or math.isnan(x) else format(x, spec)


def _tests(results: dict) -> dict:
    """The stored paired tests, or KD student vs student on concatenated CCC."""
    if isinstance(results.get("tests"), dict) and results["tests"]:
        return {name: t for name, t in results["tests"].items() if isinstance(t, dict)}
    if {"student_kd", "student"} <= set(results["models"]):
        frame = _frame(results)
        a, b = (_fold_values(frame, m, "concatenated", "ccc") for m in ("student_kd", "student"))
        return {"student_kd_vs_student": {"metric": "ccc (concatenated)", **paired_tests(a, b, names=("student_kd", "student"))}}
    return {}


def _test_line(name: str, t: dict) -> str:
    a, b = t.get("names") or (name.split("_vs_") + [""])[:2]
    n, better = t.get("n_folds"), t.get("n_better")
    metric, _, rest = str(t.get("metric", "?")).partition(" ")  # "ccc (concatenated)"
    line = (f"Paired test, {a} vs {b}, {' '.join(filter(None, [metric.upper(), rest]))}, {_folds(n)}: "
            f"t-test p = {_num(t.get('t_test_p'), '.3g')}, Wilcoxon p = {_num(t.get('wilcoxon_p'), '.3g')}, "
            f"d_z = {_num(t.get('effect_size'), '.2f')}")
    if better is not None:
        line += f"; {a} better on {better} of {n} folds"
    return line + (f" ({t['note']})." if t.get("note") else ".")


def regime_line(results: dict) -> str:
    """One sentence on the run's regime (:mod:`emokd.training.regimes`): labels withheld, a new person's
    calibration, sessions without labels in the data, the hand-overs; "" for a run with every label, no
    calibration and no such sessions."""
    cfg = results.get("config") or {}
    p, cal, handover = cfg.get("labelled_fraction", 1.0), cfg.get("calibration", 0.0), cfg.get("handover", [])
    parts = []
    # trials without a label in the data (prepare --unlabelled) sit in unlabelled/calibration too
    n_data = [len(f.get("unlabelled_data", {}).get("trials", [])) for f in results["folds"]]
    if p != 1.0:
        n_lab = [len(f["train"]["trials"]) for f in results["folds"]]
        n_hid = [len(f.get("unlabelled", {}).get("trials", [])) - len(set(f.get("unlabelled_data", {}).get(
            "trials", [])) & set(f.get("unlabelled", {}).get("trials", []))) for f in results["folds"]]
        share = sum(n_lab) / max(1, sum(n_lab) + sum(n_hid))
        parts.append(f"labels read for a share {p:g} of each training subject's training trials (at least one "
                     f"each; {share:.2f} of all training trials over the folds), the teacher trained on those")
    if cal:
        left = results.get("left_out_folds") or {}
        parts.append(f"a share {cal:g} of each test subject's trials calibrates (face and EEG, labels unread) and "
                     f"the rest are scored" + (f"; {len(left)} subject(s) with too few trials left out" if left else ""))
    if any(n_data):
        parts.append(f"sessions without labels in the data given to the taught students: {min(n_data)}-{max(n_data)} "
                     "per fold (of the training subjects" + (", and the test subject's to its calibration" if cal
                                                             else "") + ")")
    if handover:
        parts.append("hand-overs besides the teacher's features: " + ", ".join(handover))
    return ("Regime: " + "; ".join(parts) + ".") if parts else ""


def controls_line(results: dict) -> str:
    """One sentence on the run's controls (issue 34): the subset of the EEG features its student (and
    ``ref_ridge_student``) read (``eeg_bands``, ``drop_channels``), labels permuted within each subject
    (``permute_labels``); "" for a run with neither."""
    cfg = results.get("config") or {}
    bands, dropped, seed = cfg.get("eeg_bands") or [], cfg.get("drop_channels") or [], cfg.get("permute_labels")
    parts = []
    if bands or dropped:
        n = (cfg.get("student") or {}).get("n_inputs")
        parts.append("the student and ref_ridge_student read " + (f"the bands {', '.join(bands)}" if bands
                                                                  else "every band")
                     + (f" without the channels {', '.join(dropped)}" if dropped else " of every channel")
                     + (f" ({n} features)" if n is not None else ""))
    if seed is not None:
        parts.append(f"labels permuted among each subject's trials (seed {seed}): every model, reference and score "
                     "read the permuted labels, so the scores are a chance level")
    return ("Controls: " + "; ".join(parts) + ".") if parts else ""


def markdown_table(results: dict) -> str:
    """Markdown: models x (CCC, PCC, RMSE) as "mean ± sd" (3 decimals), both schemes.

    Below the table, one line per paired test (t-test p, Wilcoxon p, d_z, folds).
    """
    tables = {scheme: results_table(results, per_trial=scheme == "per_trial") for scheme in SCHEMES}
    head = [_LABEL[m] for m in TABLE_METRICS] + [f"{_LABEL[m]} (per trial)" for m in TABLE_METRICS]
    lines = ["| model | " + " | ".join(head) + " |", "|---|" + "---:|" * len(head)]
    for model in _rows(results):
        cells = [f"{_num(r['mean'], '.3f')} ± {_num(r['sd'], '.3f')}"
                 for scheme in SCHEMES for r in tables[scheme] if r["model"] == model]
        lines.append(f"| {model} | " + " | ".join(cells) + " |")
    n = len(results["folds"])
    caption = (f"Mean ± sample SD over {_folds(n)}. Concatenated: each fold's test trials scored "
               "as one sequence; per trial: scored trial by trial, averaged within the fold.")
    if results.get("references"):
        caption += (" ref_* rows are untrained reference points on the same test trials: the constant 0, "
                    "the training mean, and each test trial's own mean (an oracle that reads the test "
                    "labels; n/a = undefined for a constant prediction).")
        if any(r.startswith("ref_ridge") for r in results["references"]):
            caption += (" Except ref_ridge_student and ref_ridge_teacher: ridge regressions trained on the "
                        "student's and the teacher's inputs of the training trials (same folds and "
                        "normalisation; alpha chosen on validation CCC).")
    lines += ["", caption, ""]
    if regime := regime_line(results):
        lines += [regime, ""]
    if controls := controls_line(results):
        lines += [controls, ""]
    lines += [_test_line(name, t) for name, t in _tests(results).items()]
    return "\n".join(lines) + "\n"


def write_csv(results: dict, path) -> Path:
    """Per-fold metrics, then ``fold = mean`` and ``fold = sd`` rows, written atomically.

    Columns: fold, model, scheme (concatenated | per_trial), rmse, pcc, ccc. Floats
    are written in full precision (``repr``), so they parse back exactly.
    """
    import pandas as pd

    frame = _frame(results)
    keys = ["fold", "model", "scheme"]
    wide = frame.pivot(index=keys, columns="metric", values="value")  # one row per fold, model, scheme
    wide = wide.reindex(pd.MultiIndex.from_frame(frame[keys].drop_duplicates()))[list(METRICS)]  # their order
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(keys + list(METRICS))
    for (fold, model, scheme), values in wide.iterrows():
        w.writerow([fold, model, scheme] + [repr(float(v)) for v in values])
    tables = {scheme: results_table(results, per_trial=scheme == "per_trial") for scheme in SCHEMES}
    for stat in ("mean", "sd"):
        for scheme, rows in tables.items():
            for model in _rows(results):
                by_metric = {r["metric"]: r[stat] for r in rows if r["model"] == model}
                w.writerow([stat, model, scheme] + [repr(by_metric[m]) for m in METRICS])
    return write_text(Path(path), buf.getvalue())


# -- figures ------------------------------------------------------------------------

def plot_fold_ccc(results: dict, ax=None):
    """Grouped bars: concatenated CCC of every model on every fold. Returns the Axes."""
    frame = _frame(results)
    if ax is None:
        _, ax = plt.subplots(figsize=(2.5 + 1.2 * len(results["folds"]), 3.5), layout="constrained")
    models, folds = results["models"], [f["fold"] for f in results["folds"]]
    x, width = np.arange(len(folds)), 0.8 / len(models)
    for k, model in enumerate(models):
        offset = (k - (len(models) - 1) / 2) * width
        ax.bar(x + offset, _fold_values(frame, model, "concatenated", "ccc"), width, label=model,
               color=style.model_colour(model, default=None))
    ax.axhline(0.0, color="0.3", linewidth=0.8)
    ax.set_xticks(x, [str(f) for f in folds])
    ax.set(xlabel="fold", ylabel="CCC (concatenated)",
           title=f"Test CCC per fold ({results.get('protocol', '?')})")
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.0, 1.0))  # beside the bars
    return ax


def plot_predictions(true, preds: dict, *, ax=None, title=None, rate_hz: float = 4.0):
    """True and predicted valence of one trial against time in seconds.

    Parameters
    ----------
    true : array_like, shape (n_steps,)
        Annotated valence, sampled at ``rate_hz``.
    preds : dict of str -> array_like, shape (n_steps,)
        Predictions by model name.
    rate_hz : float
        Sampling rate of the sequences (4 Hz, the label rate): step i is at i / rate_hz s.
    """
    true = np.asarray(true, dtype=float)
    if true.ndim != 1 or true.size == 0:
        raise EmokdError(f"true: expected shape (n_steps,), got {true.shape}")
    if not (isinstance(rate_hz, (int, float)) and math.isfinite(rate_hz) and rate_hz > 0):
        raise EmokdError(f"rate_hz must be a positive number, got {rate_hz!r}")
    if ax is None:
        _, ax = plt.subplots(figsize=(7.0, 2.8), layout="constrained")
    t_s = np.arange(true.size) / rate_hz  # (n_steps,) seconds
    ax.plot(t_s, true, color=style.model_colour("labels"), linewidth=2.0, label="true")
    for name, pred in preds.items():
        pred = np.asarray(pred, dtype=float)
        if pred.shape != true.shape:
            raise EmokdError(f"preds[{name!r}]: shape {pred.shape} differs from true {true.shape}")
        ax.plot(t_s, pred, linewidth=1.2, label=name, color=style.model_colour(name, default=None))
    ax.set(xlabel="time (s)", ylabel="valence", xlim=(0.0, max(t_s[-1], 1.0 / rate_hz)))
    if title is not None:
        ax.set_title(title)
    ax.legend(fontsize="small", loc="best")
    return ax


def _plot_fold_predictions(run: Run, fold: int, max_trials: int):
    if not isinstance(max_trials, int) or max_trials < 1:
        raise EmokdError(f"max_trials must be an integer >= 1, got {max_trials!r}")
    trials = run.predictions(fold)
    shown = list(trials)[:max_trials]
    ncols = 1 if len(shown) == 1 else 2
    nrows = math.ceil(len(shown) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(6.0 * ncols, 2.6 * nrows),
                             squeeze=False, sharey=True, layout="constrained")
    try:
        for ax, trial in zip(axes.flat, shown):
            named = trials[trial]
            preds = {m: named[m] for m in run.models if m in named}
            plot_predictions(named["true"], preds, ax=ax, title=trial)
            ax.get_legend().remove()  # one legend for the figure, outside the panels
    except Exception:
        plt.close(fig)  # don't leave a half-drawn figure in pyplot's list
        raise
    fig.legend(*axes.flat[0].get_legend_handles_labels(), loc="outside right upper", fontsize="small")
    for ax in list(axes.flat)[len(shown):]:
        ax.set_visible(False)
    fig.suptitle(f"Fold {fold}: {len(shown)} of {len(trials)} test trials")
    return fig


def plot_fold_predictions(run_dir, fold: int, *, max_trials: int = 6):
    """Figure with one panel per test trial of ``fold`` (its ``"fold"`` number).

    Shows the first ``max_trials`` trials by key, true valence and every model in
    ``results["models"]`` found in the predictions file, against time in seconds.
    """
    return _plot_fold_predictions(load_run(run_dir), fold, max_trials)


def _save_figure(fig, path: Path) -> Path:
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png", dpi=110)
    finally:
        plt.close(fig)
    return path


def write_report(run_dir, out=None) -> dict[str, Path]:
    """Write ``results.md``, ``results.csv`` and ``figures/*.png`` into ``out`` (default: ``run_dir``).

    ``run_dir`` is only read, so a finished run on a read-only share can be
    reported elsewhere; ``out`` must not be another run's folder (EmokdError). Every file goes to a temporary name first and is renamed
    when complete; the markdown, which links the figures, is written last. Returns
    the paths by name: ``markdown``, ``csv``, ``fold_ccc`` and ``predictions_fold_XX``
    per fold.
    """
    run = load_run(run_dir)
    results = run.results
    out = Path(out) if out is not None else run.dir
    check_output_folder(run.dir, out)  # not another run's folder
    fig_dir = out / "figures"
    fig_dir.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}

    with style.house_style():
        paths["fold_ccc"] = _save_figure(plot_fold_ccc(results).figure, fig_dir / "fold_ccc.png")
    title = (f"# Results: {results.get('protocol', '?')} cross-validation, preset "
             f"{results.get('preset', '?')}, seed {results.get('seed', '?')}")
    md = [title, "",
          f"{_folds(len(results['folds']))}; models: {', '.join(results['models'])}"
          + (f"; run time {runtime:.1f} s." if isinstance(runtime := results.get("runtime_s"), (int, float))
             else "."), "",
          markdown_table(results), "## Concatenated CCC per fold", "",
          "![Concatenated CCC per fold](figures/fold_ccc.png)", "", "## Test predictions", ""]
    imported = set(results.get("imported_folds", []))
    if imported:
        md += [f"Folds {', '.join(map(str, sorted(imported)))} were computed elsewhere and taken from their "
               "records (`--fold-records`): their predictions are not in this folder.", ""]
    for entry in results["folds"]:
        if entry["fold"] in imported:
            continue
        name = f"predictions_fold_{entry['fold']:02d}"
        with style.house_style():
            paths[name] = _save_figure(_plot_fold_predictions(run, entry["fold"], max_trials=6),
                                       fig_dir / f"{name}.png")
        subjects = (entry.get("test") or {}).get("subjects")
        held_out = f" (test subjects {', '.join(map(str, subjects))})" if subjects else ""
        md += [f"Fold {entry['fold']}{held_out}:", "",
               f"![Fold {entry['fold']} predictions](figures/{name}.png)", ""]

    paths["csv"] = write_csv(results, out / "results.csv")
    paths["markdown"] = write_text(out / "results.md", "\n".join(md))
    return paths
