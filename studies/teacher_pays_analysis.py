"""The declared tests of the study "where a teacher pays" (results/teacher-pays/README.md).

Reads every finished run under ``results/teacher-pays/runs/`` (its results.json, or, while a run is
unfinished, the fold records kept so far: such contrasts are marked partial), and writes
``analysis.json`` and ``results.md`` beside the README:

- per run kind (p = 0.1, 0.25, 1, calibration) the mean per-trial and concatenated CCC of every model;
- each declared contrast (H1-H8): per (seed, unit) the difference of per-trial CCC; the unit is the
  test subject on real data and the cohort (the mean over its folds) on synthetic data; the mean
  difference from a linear mixed model with crossed random intercepts for seed and unit
  (:func:`emokd.evaluation.stats.crossed_mixed_model`, REML, Satterthwaite t), the spread of the
  seed-level means beside it (:func:`emokd.evaluation.stats.seed_means_t`); equivalence by TOST on the
  mixed model's estimate and SE (margin 0.02); Holm over the family of one data set;
- the same contrasts on concatenated CCC and (synthetic) against the latent valence, as descriptions.

    python studies/teacher_pays_analysis.py [--out results/teacher-pays]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
from pathlib import Path

import numpy as np
from scipy import stats as sp_stats

from emokd.core.fileio import write_json, write_text
from emokd.errors import EmokdError
from emokd.evaluation.stats import crossed_mixed_model, holm, seed_means_t

REPO = Path(__file__).resolve().parents[1]
MARGIN = 0.02  # CCC: the equivalence margin declared
KINDS = ("p0.1", "p0.25", "p1", "calibration")


@dataclasses.dataclass(frozen=True)
class Contrast:
    """One declared test: ``a - b`` (per-trial CCC) in run kind ``kind``; with ``minus`` the same
    difference in that other kind is subtracted (a difference of gains). ``test``: ``greater`` (the
    mixed model's two-sided p, Holm-adjusted, below 0.05 with a positive estimate) or ``equivalent``
    (TOST within +-MARGIN)."""

    name: str
    kind: str
    a: str
    b: str
    test: str
    claim: str
    minus: str | None = None


CONTRASTS = (
    Contrast("H1", "p0.1", "student_kd", "student", "greater", "at p = 0.1 the teacher's features help"),
    Contrast("H2", "p0.1", "student_kd", "student", "greater", "the gain shrinks as labels grow (p = 0.1 minus p = 1)",
             minus="p1"),
    Contrast("H3", "p1", "student_kd", "student", "equivalent", "with every label the teacher adds nothing"),
    Contrast("H4a", "p0.1", "student_kd_output", "student_self", "greater",
             "output distillation beats self-training at p = 0.1"),
    Contrast("H4b", "p0.25", "student_kd_output", "student_self", "greater",
             "output distillation beats self-training at p = 0.25"),
    Contrast("H5a", "p0.1", "student_kd_shuffled", "student", "equivalent", "the shuffled teacher gains about nothing"),
    Contrast("H5b", "p0.1", "student_kd", "student_kd_shuffled", "greater", "the real teacher beats the shuffled one"),
    Contrast("H6a", "calibration", "student_kd_output", "student_calib_norm", "greater",
             "the teacher's output beats feature-only calibration"),
    Contrast("H6b", "calibration", "student_kd", "student_calib_norm", "greater",
             "the teacher's features beat feature-only calibration"),
    Contrast("H7", "calibration", "student_kd_output", "student", "greater", "the teacher's calibration beats none"),
    Contrast("H8", "calibration", "student_kd_output", "student_self", "greater",
             "the teacher beats self-training on the calibration trials"),
)


def _kind(name: str) -> str:
    return name.rsplit("_", 1)[-1]


def folds_of(run_dir: Path) -> tuple[list[dict], bool]:
    """The run's folds and whether it is complete (its results.json), else the fold records so far."""
    res = run_dir / "results.json"
    if res.is_file():
        return json.loads(res.read_text())["folds"], True
    return [json.loads(p.read_text()) for p in sorted((run_dir / "folds").glob("fold_*.json"))], False


def declared_runs() -> list[str]:
    """The names of the study's declared runs (``teacher_pays.study_runs``, beside this script)."""
    from teacher_pays import study_runs

    return [r.name for r in study_runs()]


def collect(out: Path, declared=None) -> dict:
    """{data set: {kind: {"complete": bool, "rows": [...]}}}: one row per (seed, fold) with each model's
    per-trial and concatenated CCC (and against the latent, where there is one). Data sets: ``real`` and
    ``synthetic`` (the cohorts; the cohort's seed is its unit). A kind is complete when each of its runs
    under ``out/runs`` has finished and so has each run of it named in ``declared`` (run names; a declared
    run not yet started leaves its kind incomplete)."""
    data: dict = {}
    for name in declared or ():
        if not (out / "runs" / name / "results.json").is_file():
            source, _, kind = name.split("_", 2)
            data.setdefault("real" if source == "real" else "synthetic", {}).setdefault(
                kind, {"complete": False, "rows": []})["complete"] = False
    for run_dir in sorted((out / "runs").glob("*")):
        name = run_dir.name
        source, seed_tag, kind = name.split("_", 2)
        folds, complete = folds_of(run_dir)
        if not folds:
            continue
        seed = int(seed_tag.removeprefix("seed"))
        ds = "real" if source == "real" else "synthetic"
        entry = data.setdefault(ds, {}).setdefault(kind, {"complete": True, "rows": []})
        entry["complete"] &= complete
        for f in folds:
            row = {"seed": seed, "unit": f["test"]["subjects"][0] if ds == "real" else seed, "fold": f["fold"]}
            for m, met in f["metrics"].items():
                row[m] = {"per_trial": met["per_trial"]["ccc"], "concatenated": met["concatenated"]["ccc"]}
                if "metrics_latent" in f:
                    row[m]["latent_per_trial"] = f["metrics_latent"][m]["per_trial"]["ccc"]
            entry["rows"].append(row)
    return data


def run_times(out: Path) -> list[dict]:
    """One entry per run under ``out/runs``: its folds so far, whether it has finished, the sum of its
    folds' own seconds (each fold's training and scoring, wherever and however many sessions it took; folds
    that ran side by side shared the cores) and the wall time of its last invocation (``runtime_s`` of its
    results.json: a resumed run's last segment only). A run of some folds (``--folds``) writes no
    results.json: the ``study.json`` that ``study_runner`` writes once each of its folds has its record
    finishes it, and its ``wall_s_this_invocation`` is the last invocation's time."""
    rows = []
    for run_dir in sorted((out / "runs").glob("*")):
        if (run_dir / "results.json").is_file():  # read once: its folds and its last invocation
            last = json.loads((run_dir / "results.json").read_text())
            folds, complete = last["folds"], True
        else:
            folds, _ = folds_of(run_dir)
            complete = (run_dir / "study.json").is_file()  # written only once every fold of it has its record
            study = json.loads((run_dir / "study.json").read_text()) if complete else {}
            last = {"runtime_s": study.get("wall_s_this_invocation")}
        if not folds:
            continue
        rows.append({"run": run_dir.name, "folds": len(folds), "complete": complete,
                     "fold_seconds": round(float(sum(f.get("seconds", 0.0) for f in folds)), 1),
                     "last_invocation_s": last.get("runtime_s"), "n_jobs": last.get("n_jobs")})
    return rows


def runs_markdown(rows: list[dict]) -> list[str]:
    """The "Runs" section of a results.md: each run's folds and times (:func:`run_times`)."""
    lines = ["## Runs", "", "Each run's folds, the sum of its folds' own seconds (training and scoring; folds that "
             "ran side by side shared the 2 cores, so the sum exceeds the wall time) and the wall time of its last "
             "invocation (a run resumed from its fold records counts only its last segment there):", "",
             "| run | folds | finished | fold seconds (sum) | last invocation (s) | n_jobs |", "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['run']} | {r['folds']} | {'yes' if r['complete'] else 'no'} | {r['fold_seconds']:.0f} | "
                     f"{_f(r['last_invocation_s'], '.0f')} | {r['n_jobs'] if r['n_jobs'] is not None else '–'} |")
    return lines + [""]


def _diffs(rows: list[dict], a: str, b: str, score: str) -> dict:
    """(seed, unit) -> mean over the unit's folds of a - b (one fold per unit on real data)."""
    acc: dict = {}
    for r in rows:
        if a in r and b in r and score in r[a] and score in r[b]:
            acc.setdefault((r["seed"], r["unit"]), []).append(r[a][score] - r[b][score])
    return {k: float(np.mean(v)) for k, v in acc.items()}


def contrast_values(data: dict, c: Contrast, score: str = "per_trial") -> dict:
    """(seed, unit) -> the contrast's value."""
    if c.kind not in data:
        return {}
    vals = _diffs(data[c.kind]["rows"], c.a, c.b, score)
    if c.minus is not None:
        other = _diffs(data.get(c.minus, {"rows": []})["rows"], c.a, c.b, score)
        vals = {k: v - other[k] for k, v in vals.items() if k in other}
    return vals


def _tost(estimate: float, se: float, df: float) -> dict:
    """Two one-sided t tests of |mean| < MARGIN from an estimate, its SE and df."""
    if not (se > 0 and df > 0):
        return {"p": math.nan, "p_lower": math.nan, "p_upper": math.nan}
    p_lower = float(sp_stats.t.sf((estimate + MARGIN) / se, df))  # H0: mean <= -margin
    p_upper = float(sp_stats.t.cdf((estimate - MARGIN) / se, df))  # H0: mean >= +margin
    half = float(sp_stats.t.ppf(0.95, df)) * se
    return {"p": max(p_lower, p_upper), "p_lower": p_lower, "p_upper": p_upper,
            "ci90": [estimate - half, estimate + half]}


def test_contrast(values: dict) -> dict:
    """The mixed model (and the seed-mean t beside it) of one contrast's (seed, unit) values."""
    seeds = np.array([k[0] for k in values])
    units = np.array([str(k[1]) for k in values])
    y = np.array(list(values.values()), float)
    out = {"n": int(y.size), "n_seeds": int(np.unique(seeds).size), "n_units": int(np.unique(units).size),
           "mean": float(y.mean()) if y.size else math.nan}
    if y.size < 3 or np.ptp(y) == 0:
        return {**out, "note": "too few values to test"}
    mm = crossed_mixed_model(y, seeds=seeds, units=units)
    out["mixed_model"] = mm.to_json()
    out.update(estimate=mm.estimate, se=mm.se, df=mm.df, p=mm.p_t, ci95=mm.ci_t, tost=_tost(mm.estimate, mm.se, mm.df))
    if out["n_seeds"] >= 2:
        unit_means = {}
        for (s, _), v in values.items():
            unit_means.setdefault(s, []).append(v)
        out["seed_means"] = {str(s): float(np.mean(v)) for s, v in sorted(unit_means.items())}
        out["seed_means_t"] = seed_means_t(y, seeds=seeds).to_json()
    return out


def analyse(data: dict, contrasts=CONTRASTS, kinds_order=KINDS) -> dict:
    """Every data set's descriptive table, declared tests (Holm within the data set) and verdicts
    (``contrasts``: the declared tests; another study passes its own)."""
    result = {}
    for ds, kinds in data.items():
        if not any(e["rows"] for e in kinds.values()):  # only declared runs not yet started
            continue
        table = {}
        for kind, entry in kinds.items():
            if not entry["rows"]:  # a kind none of whose runs has started: incomplete, no column
                continue
            # every model of any row: a finished run's folds carry the references, an unfinished run's fold
            # records only the networks, so each mean is over the rows that have the model
            models = list(dict.fromkeys(m for r in entry["rows"] for m in r if m not in ("seed", "unit", "fold")))
            table[kind] = {"complete": entry["complete"], "n_rows": len(entry["rows"]),
                           "seeds": sorted({r["seed"] for r in entry["rows"]}),
                           "models": {m: {s: float(np.mean(v)) for s in ("per_trial", "concatenated", "latent_per_trial")
                                          if (v := [r[m][s] for r in entry["rows"] if m in r and s in r[m]])}
                                      for m in models}}
        tests = {}
        for c in contrasts:
            t = test_contrast(contrast_values(kinds, c))
            t["complete"] = all(kinds.get(k, {}).get("complete", False) for k in {c.kind, c.minus} - {None})
            t["concatenated_mean"] = (float(np.mean(list(v.values())))
                                      if (v := contrast_values(kinds, c, "concatenated")) else math.nan)
            if ds == "synthetic":
                lat = contrast_values(kinds, c, "latent_per_trial")
                t["latent_per_trial_mean"] = float(np.mean(list(lat.values()))) if lat else math.nan
            tests[c.name] = t
        ps = {c.name: (tests[c.name]["tost"]["p"] if c.test == "equivalent" else tests[c.name]["p"])
              for c in contrasts if "p" in tests[c.name]}
        adjusted = dict(zip(ps, holm(list(ps.values())))) if ps else {}
        verdicts = {}
        for c in contrasts:
            t = tests[c.name]
            if c.name not in adjusted:
                verdicts[c.name] = "not yet run"
                continue
            t["p_holm"] = adjusted[c.name]
            ok = adjusted[c.name] < 0.05 and (c.test == "equivalent" or t["estimate"] > 0)
            verdict = "supported" if ok else "not supported"
            if len(adjusted) < len(contrasts) or not all(tests[x.name]["complete"] for x in contrasts):
                verdict += " (partial: runs unfinished; Holm over the tests run so far)"
            verdicts[c.name] = verdict
        result[ds] = {"table": table, "tests": tests, "verdicts": verdicts}
    return result


def _f(x, spec=".3f") -> str:
    return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else format(x, spec)


def markdown(result: dict, contrasts=CONTRASTS, kinds_order=KINDS, *, title: str = "Where a teacher pays",
             script: str = "studies/teacher_pays_analysis.py") -> str:
    lines = [f"# {title}: results", "",
             f"Written by `python {script}` (do not edit by hand) from the runs under "
             "`runs/`; the design and hypotheses, declared before any run, are in README.md.", ""]
    for ds, r in result.items():
        lines += [f"## {ds}", "", "Mean CCC over (seed, fold), each cell *per trial / concatenated*"
                  + (" / per trial against the latent (where a cohort's labels are its latent trace, as in the "
                     "book data, the two per-trial scores are equal)"
                     if ds == "synthetic" else "") + ":", ""]
        kinds = [k for k in kinds_order if k in r["table"]]
        models = []
        for k in kinds:
            models += [m for m in r["table"][k]["models"] if m not in models]
        lines += ["| model | " + " | ".join(f"{k} (seeds {','.join(map(str, r['table'][k]['seeds']))}"
                                            f"{'' if r['table'][k]['complete'] else ', unfinished'})" for k in kinds)
                  + " |", "|---|" + "---|" * len(kinds)]
        for m in models:
            cells = []
            for k in kinds:
                s = r["table"][k]["models"].get(m)
                cells.append(" / ".join(_f(s.get(x)) for x in ("per_trial", "concatenated", "latent_per_trial")
                                        if x in s) if s else "")
            lines.append(f"| {m} | " + " | ".join(cells) + " |")
        lines += ["", "Declared tests (per-trial CCC; mixed model with crossed random seed and unit, REML, "
                  "Satterthwaite t; TOST margin 0.02; Holm over the tests of this data set):", "",
                  "| test | claim | contrast | n (seeds x units) | estimate [95 % CI] | p | TOST p | Holm p | "
                  "concatenated | verdict |", "|---|---|---|---|---|---|---|---|---|---|"]
        for c in contrasts:
            t = r["tests"][c.name]
            what = f"{c.a} - {c.b} ({c.kind}" + (f" minus {c.minus})" if c.minus else ")")
            ci = t.get("ci95") or [math.nan, math.nan]
            lines.append(f"| {c.name} | {c.claim} | {what} | {t['n']} ({t['n_seeds']} x {t['n_units']}) | "
                         f"{_f(t.get('estimate'), '+.3f')} [{_f(ci[0], '+.3f')}, {_f(ci[1], '+.3f')}] | "
                         f"{_f(t.get('p'), '.3g')} | {_f(t.get('tost', {}).get('p'), '.3g')} | "
                         f"{_f(t.get('p_holm'), '.3g')} | {_f(t.get('concatenated_mean'), '+.3f')} | "
                         f"{r['verdicts'][c.name]} |")
        lines.append("")
    return "\n".join(lines) + "\n"


def write_analysis(out: Path, contrasts=CONTRASTS, kinds_order=KINDS, *, collect_runs=None, **md) -> dict:
    """analysis.json and results.md of the runs under ``out/runs`` (read by ``collect_runs``, default
    :func:`collect`)."""
    data = collect_runs(out) if collect_runs is not None else collect(out, declared_runs())
    if not any(e["rows"] for kinds in data.values() for e in kinds.values()):
        raise EmokdError(f"{out / 'runs'}: no finished fold of any run yet")
    result = analyse(data, contrasts, kinds_order)
    write_json(out / "analysis.json", result)
    write_text(out / "results.md", markdown(result, contrasts, kinds_order, **md) + "\n".join(runs_markdown(run_times(out))))
    return result


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=REPO / "results" / "teacher-pays")
    write_analysis(ap.parse_args(argv).out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
