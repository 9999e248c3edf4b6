"""A folder of finished runs, grouped by configuration: one table and one figure that compare them.

A study (``results/mahnob-features/``, the real-data runs) holds one run folder per
configuration, protocol and seed, each with its ``results.json``. The configuration of a
run is read from that file, not from the folder's name: :func:`configuration` names it
from the preset, the normalisation and the KD-weight selection::

    book                      --preset book (EEG and facial features: training statistics)
    book_subject              --preset book --normalisation subject --face-normalisation subject
    paper                     --preset paper (EEG as it is, facial features: training statistics)
    kdsel-paper               --preset paper --kd-select ... (the KD weight chosen on validation)

and :func:`load_runs` checks that the runs it groups under one name differ in nothing
but their seed::

    runs = collection.load_runs("results/mahnob-features")   # [StudyRun, ...]
    collection.summary(runs)            # long DataFrame: configuration, protocol, model, scheme, mean, sd, ...
    collection.summary_table(runs)      # wide: one row per configuration x protocol, CCC "mean ± sd"
    collection.kd_gains(runs)           # one row per fold and seed: teacher CCC, KD gain
    collection.plot_kd_gains(runs)      # the KD gain against the teacher's CCC, one panel per group

Scores are each fold's test CCC (or another metric); a group's mean and SD are taken over
all its (seed, fold) scores. Nothing here reads predictions or labels.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import EmokdError
from ..training.runs import RESULTS, SCHEMES, read_results
from ..core.config import experiment_config
from ..core.tables import markdown_table
from ..core import style
from .stats import paired_tests, spearman

#: the table's columns, in this order (those no run has are dropped)
MODELS = ("teacher", "student", "student_kd", "student_kd_selected", "ref_ridge_teacher", "ref_ridge_student",
          "ref_trial_mean_oracle", "ref_train_mean", "ref_zero")
#: the order of the protocols in tables and figures
PROTOCOL_ORDER = ("trs", "loso")
#: config fields that may differ between runs of one configuration
_PER_RUN = ("seed", "device")


@dataclass(frozen=True)
class StudyRun:
    """One finished run of a study: its folder's name, configuration, protocol, seed and results."""

    name: str
    configuration: str
    protocol: str
    seed: int
    results: dict

    @property
    def kd_model(self) -> str:
        """The distilled student that this run's KD test is about."""
        return "student_kd_selected" if "student_kd_selected" in self.results["models"] else "student_kd"

    def fold_scores(self, model: str, scheme: str = "concatenated", metric: str = "ccc") -> np.ndarray:
        """One model's test score per fold, shape (n_folds,), in the order of ``results["folds"]``."""
        return np.array([f["metrics"][model][scheme][metric] for f in self.results["folds"]], dtype=float)


def configuration(results: dict) -> str:
    """The name of a run's configuration, from its results (preset, normalisation, KD-weight selection).

    The preset's own normalisation gives just the preset's name; another one appends it
    (``book_subject``; ``book_none-train`` where the EEG's and the face's differ). A KD weight
    chosen on validation prefixes ``kdsel-``. The controls of issue 34 append theirs: ``_bands-theta+alpha``,
    ``_drop-Fp1+Fp2``, ``_perm<seed>``. Runs written before a field existed have its
    default (``train``, no selection, no control).
    """
    cfg = results.get("config") or {}
    preset = results.get("preset") or cfg.get("preset")
    default = experiment_config(preset)
    norm = (cfg.get("normalisation", "train"), cfg.get("face_normalisation", "train"))
    name = preset
    if norm != (default.normalisation, default.face_normalisation):
        name += f"_{norm[0]}" if norm[0] == norm[1] else f"_{norm[0]}-{norm[1]}"
    # the controls of issue 34: a subset of the student's EEG features, labels permuted (one per seed)
    if cfg.get("eeg_bands"):
        name += "_bands-" + "+".join(cfg["eeg_bands"])
    if cfg.get("drop_channels"):
        name += "_drop-" + "+".join(cfg["drop_channels"])
    if cfg.get("permute_labels") is not None:
        name += f"_perm{cfg['permute_labels']}"
    return f"kdsel-{name}" if cfg.get("kd_select") else name


def _without_seed(cfg: dict) -> str:
    return json.dumps({k: v for k, v in cfg.items() if k not in _PER_RUN}, sort_keys=True)


def load_runs(folder) -> list[StudyRun]:
    """Every finished run in ``folder`` (each subfolder with a ``results.json``), sorted.

    Sorted by configuration (in order of appearance of the preset: book, then the others by
    name), protocol (:data:`PROTOCOL_ORDER`) and seed. Raises naming both folders where two
    runs of one configuration and protocol differ in anything but their seed and device,
    or share a seed.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise EmokdError(f"{folder}: no such folder of runs")
    runs = []
    for path in sorted(folder.glob(f"*/{RESULTS}")):
        res = read_results(path.parent)
        try:
            name = configuration(res)
        except EmokdError as err:
            raise EmokdError(f"{path}: {err}") from None
        runs.append(StudyRun(path.parent.name, name, res["protocol"], int(res["seed"]), res))
    first: dict[tuple[str, str], StudyRun] = {}
    for run in runs:
        key = (run.configuration, run.protocol)
        other = first.setdefault(key, run)
        if other is run:
            continue
        if _without_seed(other.results["config"]) != _without_seed(run.results["config"]):
            raise EmokdError(f"{folder / run.name} and {folder / other.name}: both are {key[0]} {key[1].upper()} "
                             "runs but their configs differ in more than the seed; keep one of them or rename "
                             "the preset")
        if other.seed == run.seed:
            raise EmokdError(f"{folder / run.name} and {folder / other.name}: the same configuration, protocol "
                             f"and seed ({key[0]} {key[1].upper()} seed {run.seed}) twice")
    return sorted(runs, key=_order)


def _order(run: StudyRun):
    base = run.configuration.removeprefix("kdsel-")
    return (base != "book", base, run.configuration.startswith("kdsel-"),
            PROTOCOL_ORDER.index(run.protocol) if run.protocol in PROTOCOL_ORDER else len(PROTOCOL_ORDER),
            run.seed)


def groups(runs: list[StudyRun]) -> dict[tuple[str, str], list[StudyRun]]:
    """The runs by (configuration, protocol), in the order of ``runs``."""
    out: dict[tuple[str, str], list[StudyRun]] = {}
    for run in runs:
        out.setdefault((run.configuration, run.protocol), []).append(run)
    return out


def summary(runs: list[StudyRun], *, metric: str = "ccc"):
    """Mean and sample SD of every model's test ``metric`` over each group's (seed, fold) scores.

    Returns a long DataFrame, one row per (configuration, protocol, model, scheme) where the
    model is in every run of the group: columns configuration, protocol, model, scheme, mean,
    sd, n (scores), seeds (e.g. ``"0,1,2"``), folds (per seed).
    """
    import pandas as pd

    rows = []
    for (config, protocol), group in groups(runs).items():
        names = [m for m in MODELS if all(m in r.results["models"] + r.results.get("references", [])
                                          for r in group)]
        for model in names:
            for scheme in SCHEMES:
                scores = np.concatenate([r.fold_scores(model, scheme, metric) for r in group])
                rows.append({"configuration": config, "protocol": protocol, "model": model, "scheme": scheme,
                             "mean": float(scores.mean()),
                             "sd": float(scores.std(ddof=1)) if scores.size > 1 else float("nan"),
                             "n": int(scores.size), "seeds": ",".join(str(r.seed) for r in group),
                             "folds": int(group[0].results["n_folds"])})
    return pd.DataFrame(rows, columns=["configuration", "protocol", "model", "scheme", "mean", "sd", "n", "seeds",
                                       "folds"])


def summary_table(runs: list[StudyRun], *, metric: str = "ccc", digits: int = 3):
    """One row per configuration x protocol, one column per (scheme, model): ``"mean ± sd"``.

    Index (configuration, protocol, seeds, folds); a model a group lacks is ``"–"``.
    """
    long = summary(runs, metric=metric)
    if long.empty:
        return long
    long = long.assign(cell=[f"{m:.{digits}f} ± {s:.{digits}f}" if np.isfinite(s) else f"{m:.{digits}f}"
                             for m, s in zip(long["mean"], long["sd"])])
    wide = long.pivot_table(index=["configuration", "protocol", "seeds", "folds"], columns=["scheme", "model"],
                            values="cell", aggfunc="first", sort=False)
    models = [m for m in MODELS if m in set(long["model"])]
    wide = wide.reindex(columns=[(s, m) for s in SCHEMES for m in models]).fillna("–")
    wide.columns.names = ["scheme", "model"]
    return wide


def kd_gains(runs: list[StudyRun], *, scheme: str = "concatenated"):
    """Per fold and seed: the teacher's, the student's and the KD student's CCC and the KD gain.

    Columns configuration, protocol, seed, fold, teacher, student, kd (the run's
    :attr:`StudyRun.kd_model`), gain = kd - student.
    """
    import pandas as pd

    rows = []
    for run in runs:
        t, s, k = (run.fold_scores(m, scheme) for m in ("teacher", "student", run.kd_model))
        for f, ti, si, ki in zip(run.results["folds"], t, s, k):
            rows.append({"configuration": run.configuration, "protocol": run.protocol, "seed": run.seed,
                         "fold": f["fold"], "teacher": ti, "student": si, "kd": ki, "gain": ki - si})
    return pd.DataFrame(rows, columns=["configuration", "protocol", "seed", "fold", "teacher", "student", "kd",
                                       "gain"])


def plot_kd_gains(runs: list[StudyRun], *, axes=None, scheme: str = "concatenated"):
    """KD student − student against the teacher's CCC, every fold of every seed; one panel per group.

    Each panel's title gives its Spearman correlation (does distillation help more where the
    teacher is better?). The panels wrap into rows of :data:`emokd.core.style.MAX_COLUMNS`, so each stays
    readable at page width. Returns the figure.
    """
    import matplotlib.pyplot as plt

    gains = kd_gains(runs, scheme=scheme)
    keys = list(groups(runs))
    if not keys:
        raise EmokdError("no runs to plot")
    if axes is None:
        rows, cols = style.grid(len(keys))
        fig, grid = plt.subplots(rows, cols, figsize=style.figsize(cols, rows, row_height_in=3.0), sharey=True,
                                 squeeze=False, layout="constrained")
        for ax in grid.flat[len(keys):]:
            ax.remove()
        axes = grid.flat[:len(keys)]
    for ax, (config, protocol) in zip(np.ravel(axes), keys):
        g = gains[(gains["configuration"] == config) & (gains["protocol"] == protocol)]
        for seed, s in g.groupby("seed"):
            ax.scatter(s["teacher"], s["gain"], s=12, label=f"seed {seed}")
        rho = spearman(g["teacher"], g["gain"], nan_policy="propagate")  # nan if a fold's score is missing
        ax.axhline(0, color="0.5", lw=0.8)
        ax.set(title=f"{config}, {protocol.upper()}\nSpearman ρ = {rho:.2f}", xlabel="teacher CCC (fold)")
        ax.legend(fontsize=7)
    for ax in np.ravel(axes):  # the first column of each row
        spec = ax.get_subplotspec()
        if spec is None or spec.is_first_col():
            ax.set_ylabel(f"KD − student CCC (fold, {scheme.replace('_', ' ')})")
    return np.ravel(axes)[0].figure


def markdown_summary(runs: list[StudyRun], *, metric: str = "ccc", digits: int = 3) -> list[str]:
    """:func:`summary_table` as Markdown lines: one row per configuration x protocol.

    Each model's cell is ``concatenated / per trial``, both mean ± SD over the (seed, fold) scores.
    """
    import pandas as pd

    wide = summary_table(runs, metric=metric, digits=digits)
    if wide.empty:
        return []
    models = list(dict.fromkeys(model for _, model in wide.columns))
    index = wide.index.to_frame(index=False)
    table = pd.DataFrame({"configuration": index["configuration"], "protocol": index["protocol"].str.upper(),
                          "seeds": index["seeds"], "folds": index["folds"],
                          **{m: [" / ".join(cells) for cells in zip(*(wide[(s, m)] for s in SCHEMES))]
                             for m in models}})
    return markdown_table(table)


def _same_folds(group: list[StudyRun], min_runs: int = 2) -> bool:
    """At least ``min_runs`` runs whose folds test the same subjects in the same order (LOSO under any seed)."""
    tested = [[(f.get("test") or {}).get("subjects") for f in r.results["folds"]] for r in group]
    return len(group) >= max(min_runs, 1) and None not in tested[0] and all(t == tested[0] for t in tested)


def seed_averaged_test(group: list[StudyRun], a: str = "student_kd", b: str = "student", *,
                       min_runs: int = 2) -> dict | None:
    """``a`` vs ``b`` on each fold's test CCC averaged over the seeds of one configuration and protocol.

    For LOSO, whose folds hold the same test subject under every seed: averaging over seeds
    removes some of each subject's training noise before the paired tests over subjects
    (:func:`emokd.evaluation.stats.paired_tests`). None unless there are at least ``min_runs`` runs, their
    folds test the same subjects in the same order and every run has both models. With
    ``min_runs=1`` a configuration run with one seed gets the paired test over its own folds.
    """
    names = [set(r.results["models"] + r.results.get("references", [])) for r in group]
    if not _same_folds(group, min_runs) or any({a, b} - n for n in names):
        return None
    va = np.mean([r.fold_scores(a) for r in group], axis=0)
    vb = np.mean([r.fold_scores(b) for r in group], axis=0)
    return {"seeds": [r.seed for r in group], "a": a, "b": b, **paired_tests(va, vb, names=(a, b)),
            f"mean_{a}": float(va.mean()), f"mean_{b}": float(vb.mean())}


def fold_agreement(res: dict, base: dict, models=("teacher", "student", "student_kd")) -> dict:
    """How closely the models of run ``res`` reproduce those of run ``base`` (two results dicts), fold by fold.

    Folds are matched by their test trials; a fold missing from either run is skipped. Returns, per
    model found in both: ``folds`` (the number compared), ``same_best_epoch`` (the folds with the same
    best epoch) and ``max_abs_ccc_diff`` (the largest |difference| in concatenated test CCC). Two runs
    of one configuration and seed on a deterministic CPU agree exactly (a kdsel run retrains its base's
    teacher, student and weight-1 KD student: ``studies/bench_real.py`` reports this).
    """
    by_test = {tuple(f["test"]["trials"]): f for f in base["folds"]}
    pairs = [(f, by_test[key]) for f in res["folds"] if (key := tuple(f["test"]["trials"])) in by_test]
    out = {}
    for m in models:
        both = [(f, g) for f, g in pairs if m in f["metrics"] and m in g["metrics"]]
        if both:
            out[m] = {"folds": len(both),
                      "same_best_epoch": sum(f["best_epoch"].get(m) == g["best_epoch"].get(m) for f, g in both),
                      "max_abs_ccc_diff": max(abs(f["metrics"][m]["concatenated"]["ccc"]
                                                  - g["metrics"][m]["concatenated"]["ccc"]) for f, g in both)}
    return out


#: :func:`diagnostics`' columns after configuration and protocol, with what each measures
DIAGNOSTICS = {
    "teacher_lead": "teacher − student, test CCC (mean over folds and seeds): is there anything to distil?",
    "kd_gain": "KD student − student, test CCC (mean over folds and seeds)",
    "gain_teacher_spearman": "Spearman correlation over folds of the KD gain with the teacher's CCC",
    "kd_gain_validation": "weight-1 KD student − student, best validation CCC (mean over folds and seeds)",
    "student_shortfall": "ridge regression on the student's features − student, best validation CCC (mean over "
                         "folds and seeds; nan where the run has no ridge reference): how far the student falls "
                         "short of a linear read-out of its own features",
    "gain_shortfall_spearman": "Spearman correlation over folds of the KD gain (test) with that shortfall "
                               "(validation: other trials, so the two share no test noise)",
    "seed_sd_student": "SD over seeds of the student's test CCC on one LOSO subject, mean over subjects "
                       "(nan unless two seeds or more test the same subjects in the same folds): the training "
                       "noise of one fold's score",
    "best_epoch_student": "the student's best epoch, mean over folds and seeds",
    "best_epoch_kd": "the weight-1 KD student's best epoch, mean over folds and seeds",
}


def _training(fold: dict, field: str, model: str) -> float:
    """A fold's ``field`` ("best_val_ccc", "best_epoch") of ``model``; nan where the run did not record it."""
    value = (fold.get(field) or {}).get(model)
    return float("nan") if value is None else float(value)


def _shortfall(fold: dict) -> float:
    """Ridge on the student's features minus the student, best validation CCC of each; nan without ridge."""
    ridge = ((fold.get("ridge") or {}).get("ref_ridge_student") or {}).get("val_ccc")
    return float("nan") if ridge is None else float(ridge) - _training(fold, "best_val_ccc", "student")


def diagnostics(runs: list[StudyRun]):
    """Per configuration x protocol, the numbers that say why distillation helped or did not.

    A DataFrame with columns configuration, protocol, seeds, n (folds x seeds) and
    :data:`DIAGNOSTICS`. The KD gain and its correlation use each run's
    :attr:`StudyRun.kd_model` (concatenated CCC); validation CCC and best epochs are those
    of the weight-1 KD student ``student_kd``, which every run trains.
    """
    import pandas as pd

    gains = kd_gains(runs)
    rows = []
    for (config, protocol), group in groups(runs).items():
        g = gains[(gains["configuration"] == config) & (gains["protocol"] == protocol)]
        folds = [f for r in group for f in r.results["folds"]]  # in the order of g's rows
        shortfall = [_shortfall(f) for f in folds]
        seed_sd = float("nan")
        if _same_folds(group):
            seed_sd = float(np.mean(np.std([r.fold_scores("student") for r in group], axis=0, ddof=1)))
        rows.append({
            "configuration": config, "protocol": protocol, "seeds": ",".join(str(r.seed) for r in group),
            "n": len(g),
            "teacher_lead": float((g["teacher"] - g["student"]).mean()),
            "kd_gain": float(g["gain"].mean()),
            "gain_teacher_spearman": spearman(g["teacher"], g["gain"]),  # finite pairs only
            "kd_gain_validation": float(np.mean([_training(f, "best_val_ccc", "student_kd")
                                                 - _training(f, "best_val_ccc", "student") for f in folds])),
            "student_shortfall": float(np.mean(shortfall)),
            "gain_shortfall_spearman": spearman(g["gain"], shortfall),
            "seed_sd_student": seed_sd,
            "best_epoch_student": float(np.mean([_training(f, "best_epoch", "student") for f in folds])),
            "best_epoch_kd": float(np.mean([_training(f, "best_epoch", "student_kd") for f in folds])),
        })
    return pd.DataFrame(rows, columns=["configuration", "protocol", "seeds", "n", *DIAGNOSTICS])
