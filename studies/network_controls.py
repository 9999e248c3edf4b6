"""Run and analyse the network controls (results/network-controls/README.md declares them; issue 34).

Two controls of the networks on the real feature release, in the ``book_subject`` configuration of
results/mahnob-features (book settings with the full-pass schedule of the runs committed there, subject
normalisation), LOSO, seed 0:

- the TCN student's EMG ablations: the same run with the student (and its ridge reference) reading only
  theta and alpha (``--eeg-bands theta,alpha``), only beta and gamma (``--eeg-bands beta,gamma``), or
  every band without the six channels nearest the facial muscles (``--drop-channels``, the channels of
  ``studies/emg_controls.py``), each against the full run of the same configuration, paired by subject;
- the networks' chance level: the same run with every subject's labels permuted among its trials
  (``--permute-labels K``, K = 1..24), on the folds of :data:`CHANCE_FOLDS` only (``--folds``), against the
  full run's score on the same folds.

Runs resume across sessions from the fold records committed under ``results/network-controls/runs/<name>/folds/``
(:mod:`study_runner`); a run of some folds is finished when each has its record.

    python studies/network_controls.py            # every run not finished, then the analysis
    python studies/network_controls.py --list     # the runs, their commands and state
    python studies/network_controls.py --analyse  # only the declared analysis of what has finished
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import pandas as pd

# beside this script: the configurations of results/mahnob-features, the declared studies' driver loop
from bench_real import config_options
from study_runner import REPO, StudyRun, drive, study_arguments

from emokd.core.constants import MUSCLE_CHANNELS  # those of studies/emg_controls.py
from emokd.core.tables import markdown_table

#: the book_subject configuration of results/mahnob-features (its runs book_subject_loso_seed*)
BOOK_SUBJECT = tuple(config_options("book_subject"))
SEED = 0
#: ablation (run kind) -> the options that make it, and the name of the ridge ablation it mirrors
ABLATIONS = {
    "theta-alpha": (("--eeg-bands", "theta,alpha"), "theta+alpha"),
    "beta-gamma": (("--eeg-bands", "beta,gamma"), "beta+gamma"),
    "no-muscle": (("--drop-channels", ",".join(MUSCLE_CHANNELS)), "no muscle channels"),
}
#: the permutations of the chance level (their seeds) and the LOSO folds they run: every fourth subject in
#: subject order (1, 5, 10, 18, 22, 27), fixed before any run, not chosen on any score
PERMUTATIONS = tuple(range(1, 25))
CHANCE_FOLDS = (0, 4, 8, 12, 16, 20)
#: the networks whose chance level is measured; the student's is the declared test, the others described
NETWORKS = ("student", "teacher", "student_kd")
SCORES = ("per_trial", "concatenated")
MARGIN = 0.02  # CCC: the equivalence margin (TOST), as in the other studies of issue 34


def study_runs() -> list[StudyRun]:
    """Every run, in the declared order: the full run, the three ablations, the 24 permutations."""
    runs = [StudyRun(f"real_seed{SEED}_full", "real", SEED, BOOK_SUBJECT)]
    runs += [StudyRun(f"real_seed{SEED}_{kind}", "real", SEED, (*BOOK_SUBJECT, *options))
             for kind, (options, _) in ABLATIONS.items()]
    runs += [StudyRun(f"real_seed{SEED}_perm{k:02d}", "real", SEED, (*BOOK_SUBJECT, "--permute-labels", str(k)),
                      folds=CHANCE_FOLDS) for k in PERMUTATIONS]
    return runs


# ------------------------------------------------------------------ the declared analysis


def _by_unit(rows: list[dict], model: str, score: str) -> dict:
    """test subject -> the model's score on its fold (real data: one fold per subject)."""
    return {r["unit"]: r[model][score] for r in rows if model in r and score in r[model]}


def ablation_tests(data: dict) -> dict:
    """Per ablation, model and score: the paired comparison with the full run over the subjects both have
    (mean difference, t-test, Wilcoxon, d_z; TOST within +-MARGIN; each subject's two scores, ``by_subject``),
    and whether both runs are complete."""
    from emokd.evaluation.stats import paired_tests, tost_paired

    out = {}
    full = data.get("full")
    for kind in ABLATIONS:
        if full is None or kind not in data:
            continue
        entry = {"complete": full["complete"] and data[kind]["complete"]}
        for model in ("student", "student_kd", "ref_ridge_student"):
            for score in SCORES:
                a, b = _by_unit(data[kind]["rows"], model, score), _by_unit(full["rows"], model, score)
                units = sorted(set(a) & set(b), key=str)
                if len(units) < 3:
                    continue
                x, y = [a[u] for u in units], [b[u] for u in units]
                entry[f"{model}/{score}"] = {
                    "n": len(units), "mean": sum(x) / len(x), "full_mean": sum(y) / len(y),
                    "by_subject": {str(u): [a[u], b[u]] for u in units},  # subject -> [ablated, full]
                    "paired": paired_tests(x, y, names=(kind, "full")),
                    "tost": tost_paired(x, y, MARGIN, names=(kind, "full")).to_json()}
        out[kind] = entry
    return out


#: the declared ablation hypotheses (README): kind -> (claim, test); "less": the two-sided paired t-test
#: of the student's per-trial CCC, Holm over the three, with a negative mean; "equivalent": TOST
HYPOTHESES = {
    "theta-alpha": ("N1", "without beta and gamma the student loses per-trial CCC", "less"),
    "beta-gamma": ("N2", "beta and gamma alone keep the student's per-trial CCC (within +-0.02)", "equivalent"),
    "no-muscle": ("N3", "without the six channels nearest the facial muscles the student loses per-trial CCC",
                  "less"),
}


def ablation_verdicts(tests: dict) -> dict:
    """N1-N3 from the student's per-trial comparisons, Holm over the three (partial while runs are missing, unless
    no unfinished test can change a verdict: then settled)."""
    from emokd.evaluation.stats import holm

    ps = {}
    for kind, (name, _, how) in HYPOTHESES.items():
        t = tests.get(kind, {}).get("student/per_trial")
        if t is not None:
            ps[name] = t["tost"]["p"] if how == "equivalent" else t["paired"]["t_test_p"]
    adjusted = dict(zip(ps, holm(list(ps.values())))) if ps else {}
    out = {}
    for kind, (name, claim, how) in HYPOTHESES.items():
        t = tests.get(kind, {}).get("student/per_trial")
        if t is None:
            out[name] = {"claim": claim, "verdict": "not yet run"}
            continue
        direction = how == "equivalent" or t["paired"]["mean_diff"] < 0
        ok = adjusted[name] < 0.05 and direction
        verdict = "supported" if ok else "not supported"
        if len(adjusted) < len(HYPOTHESES) or not all(x.get("complete") for x in tests.values()):
            # Holm's adjusted p of a test lies between its own p and len(HYPOTHESES) times it, whatever the other
            # tests give: a finished run's verdict outside that band cannot change when the others finish
            own_run_done = tests[kind].get("complete", False)
            settled = own_run_done and ((direction and len(HYPOTHESES) * ps[name] < 0.05)
                                        or not direction or ps[name] >= 0.05)
            verdict += (" (settled: its run is complete, and no unfinished test can change it under Holm)" if settled
                        else " (partial: runs unfinished; Holm over the tests run so far)")
        out[name] = {"claim": claim, "p": ps[name], "p_holm": adjusted[name], "verdict": verdict}
    return out


def ridge_check(data: dict, emg_controls: Path = REPO / "results" / "mahnob-features" / "emg_controls.json") -> dict:
    """Each finished run's ridge reference against studies/emg_controls.py's ridge on the same features (subject
    normalisation, the same LOSO folds): the largest |difference| of a subject's per-trial and concatenated CCC.
    Expected 0 up to rounding: the runs' ``ref_ridge_student`` reads exactly the columns of the ridge ablation."""
    import json

    if not emg_controls.is_file():
        return {}
    ridge = json.loads(emg_controls.read_text())["normalisations"]["subject"]
    out = {}
    for kind, name in (("full", "all"), *((k, v[1]) for k, v in ABLATIONS.items())):
        if kind not in data or not data[kind]["complete"]:
            continue
        out[kind] = {}
        for score in SCORES:
            run = _by_unit(data[kind]["rows"], "ref_ridge_student", score)
            ref = ridge[name][score]["by_subject"]
            diffs = [abs(v - ref[str(u)]) for u, v in run.items() if str(u) in ref]
            out[kind][score] = {"n": len(diffs), "max_abs_diff": max(diffs) if diffs else None}
    return out


def _fold_mean(rows: list[dict], model: str, score: str, folds) -> float | None:
    """The mean over ``folds`` of the model's fold score, or None unless every one of them is there."""
    by_fold = {r["fold"]: r[model][score] for r in rows if model in r and score in r[model]}
    if not set(folds) <= set(by_fold):
        return None
    return sum(by_fold[f] for f in folds) / len(folds)


def chance(data: dict) -> dict:
    """Per network and score: the full run's mean over :data:`CHANCE_FOLDS` against the same mean of every
    permuted run that finished them (the null): its mean, SD, 95th percentile and maximum, and the one-sided
    permutation p = (1 + #(null >= real)) / (1 + n)."""
    import numpy as np

    out = {"folds": list(CHANCE_FOLDS), "n_declared": len(PERMUTATIONS), "networks": {}}
    full = data.get("full", {"rows": []})["rows"]
    perms = [data[k]["rows"] for k in sorted(data) if k.startswith("perm")]
    for model in NETWORKS:
        for score in SCORES:
            real = _fold_mean(full, model, score, CHANCE_FOLDS)
            null = [v for rows in perms if (v := _fold_mean(rows, model, score, CHANCE_FOLDS)) is not None]
            entry = {"real": real, "n_permutations": len(null), "null": null}
            if null:
                arr = np.asarray(null, float)
                entry.update(null_mean=float(arr.mean()), null_sd=float(arr.std(ddof=1)) if arr.size > 1 else math.nan,
                             null_p95=float(np.percentile(arr, 95)), null_max=float(arr.max()))
                if real is not None:
                    entry["p"] = float((1 + np.sum(arr >= real)) / (1 + arr.size))
            out["networks"][f"{model}/{score}"] = entry
    student = out["networks"]["student/per_trial"]
    if "p" not in student:
        verdict = "not yet run"
    else:
        verdict = "supported" if student["p"] < 0.05 else "not supported"
        if student["n_permutations"] < len(PERMUTATIONS):
            verdict += f" (partial: {student['n_permutations']} of {len(PERMUTATIONS)} permutations)"
    out["C1"] = {"claim": "the TCN student's per-trial CCC is above its chance level", "verdict": verdict}
    return out


def _f(x, spec: str = ".3f") -> str:
    return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else format(x, spec)


def markdown(result: dict) -> str:
    ablations = pd.DataFrame([
        {"ablation": kind + ("" if entry["complete"] else " (unfinished)"), "model": key.split("/")[0],
         "score": key.split("/")[1], "n": t["n"], "ablation CCC": _f(t["mean"]), "full": _f(t["full_mean"]),
         "difference [95 % CI]": (f"{_f(t['paired']['mean_diff'], '+.3f')} [{_f(t['paired']['ci95'][0], '+.3f')}, "
                                  f"{_f(t['paired']['ci95'][1], '+.3f')}]"),
         "t-test p": _f(t["paired"]["t_test_p"], ".3g"), "Wilcoxon p": _f(t["paired"]["wilcoxon_p"], ".3g"),
         "TOST p": _f(t["tost"]["p"], ".3g")}
        for kind, entry in result["ablations"].items() for key, t in entry.items() if key != "complete"],
        columns=["ablation", "model", "score", "n", "ablation CCC", "full", "difference [95 % CI]", "t-test p",
                 "Wilcoxon p", "TOST p"])
    verdicts = pd.DataFrame([{"hypothesis": name, "claim": v["claim"], "p": _f(v.get("p"), ".3g"),
                              "Holm p": _f(v.get("p_holm"), ".3g"), "verdict": v["verdict"]}
                             for name, v in result["verdicts"].items()],
                            columns=["hypothesis", "claim", "p", "Holm p", "verdict"])
    c = result["chance"]
    chance = pd.DataFrame([
        {"network": key.split("/")[0], "score": key.split("/")[1], "real (full run, same folds)": _f(e["real"]),
         "permutations": f"{e['n_permutations']} of {c['n_declared']}", "null mean": _f(e.get("null_mean"), "+.3f"),
         "null SD": _f(e.get("null_sd")), "null 95th pct": _f(e.get("null_p95"), "+.3f"),
         "null max": _f(e.get("null_max"), "+.3f"), "p": _f(e.get("p"), ".3g")}
        for key, e in c["networks"].items()],
        columns=["network", "score", "real (full run, same folds)", "permutations", "null mean", "null SD",
                 "null 95th pct", "null max", "p"])
    lines = ["# Network controls: results", "",
             ("Written by `python studies/network_controls.py --analyse` (do not edit by hand) from the runs under "
              "`runs/`; the design and hypotheses, declared before any run, are in README.md. Per-trial CCC is "
              "primary, concatenated beside it."), "", "## EMG ablations (LOSO, seed 0, paired by subject)", "",
             *markdown_table(ablations), "", *markdown_table(verdicts)]
    for kind, check in result["ridge_check"].items():
        lines += ["", (f"Ridge check, {kind}: the run's ref_ridge_student against studies/emg_controls.py's ridge on "
                       "the same features, largest |difference| per subject: "
                       + ", ".join(f"{s.replace('_', ' ')} {_f(v['max_abs_diff'], '.2g')} (n = {v['n']})"
                                   for s, v in check.items()) + ".")]
    lines += ["", f"## Chance level (labels permuted within each subject; folds {', '.join(map(str, c['folds']))})",
              "", *markdown_table(chance), "", f"C1 ({c['C1']['claim']}): {c['C1']['verdict']}.", ""]
    return "\n".join(lines)


def analyse(out: Path) -> dict:
    """The declared analysis of the runs finished under ``out/runs``: ``analysis.json`` and ``results.md``."""
    # beside this script: each run's fold rows (from its results.json or its fold records)
    from teacher_pays_analysis import collect, run_times, runs_markdown

    from emokd.core.fileio import write_json, write_text
    from emokd.errors import EmokdError

    data = collect(out).get("real", {})
    if not data:
        raise EmokdError(f"{out / 'runs'}: no finished fold of any run yet")
    tests = ablation_tests(data)
    result = {"ablations": tests, "verdicts": ablation_verdicts(tests), "ridge_check": ridge_check(data),
              "chance": chance(data)}
    write_json(out / "analysis.json", result)
    write_text(out / "results.md", markdown(result) + "\n\n" + "\n".join(runs_markdown(run_times(out))))
    return result


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    study_arguments(ap, "network-controls")
    return drive(ap.parse_args(argv), study_runs(), analyse)


if __name__ == "__main__":
    sys.exit(main())
