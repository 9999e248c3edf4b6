"""The recipe on the real MAHNOB-HCI feature release: LOSO and TRS, several seeds.

For every protocol and seed it runs the command a user runs,

    python -m emokd run --preset book --protocol P --seed S --n-jobs N --data DATA --out RUN

(RUN = emokd-runs/mahnob-features/<P>_seed<S>; a rerun resumes finished folds), then
copies the small outputs -- results.json, results.md, results.csv and
figures/fold_ccc.png -- to results/mahnob-features/<P>_seed<S>/ and writes
results/mahnob-features/README.md: the commands, seeds, runtimes, one table per
protocol (seed by seed) and the paired tests. Checkpoints and predictions (which
hold the labels, GPL-3.0 upstream) stay in RUN and are never committed.

For LOSO the folds are the same subjects under every seed, so it also tests
KD student vs student on the per-subject CCC averaged over the seeds (declared
before any result was seen; TRS folds differ by seed, so TRS is reported seed by seed).

Run:  python benchmarks/bench_real.py [--data ../shared/data/mahnob-hci] [--protocols trs loso]
                                      [--seeds 0 1 2] [--n-jobs 2] [--rerun] [--report-only]
Writes results/mahnob-features/ and benchmarks/results/real_mahnob.json (runtimes).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from _results import write_result

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from emokd.stats import paired_tests  # noqa: E402

RESULTS = ROOT / "results" / "mahnob-features"
RUNS = ROOT / "emokd-runs" / "mahnob-features"
KEEP = ("results.json", "results.md", "results.csv", "figures/fold_ccc.png")


def command(protocol: str, seed: int, n_jobs: int, data: str, out: Path) -> list[str]:
    return [sys.executable, "-m", "emokd", "run", "--preset", "book", "--protocol", protocol, "--seed", str(seed),
            "--n-jobs", str(n_jobs), "--data", data, "--out", str(out), "--quiet"]


def run_one(protocol: str, seed: int, n_jobs: int, data: str, rerun: bool = False) -> float | None:
    """Run (or resume) one experiment and copy its small outputs; returns the wall time in seconds.

    A finished run (its results.json copied to results/) is kept as it is unless ``rerun``:
    resuming it would rewrite its runtime with the seconds the resume took.
    """
    run = RUNS / f"{protocol}_seed{seed}"
    dest = RESULTS / run.name
    if (dest / "results.json").exists() and not rerun:
        return None
    t0 = time.perf_counter()
    subprocess.run(command(protocol, seed, n_jobs, data, run) + (["--fresh"] if rerun else []), check=True, cwd=ROOT)
    wall = time.perf_counter() - t0
    for name in KEEP:
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(run / name, dest / (name + ".tmp"))
        os.replace(dest / (name + ".tmp"), dest / name)
    return wall


def _fold_ccc(res: dict, model: str, scheme: str = "concatenated") -> list[float]:
    return [f["metrics"][model][scheme]["ccc"] for f in res["folds"]]


def _f(x: float, spec: str = ".3f") -> str:
    return "n/a" if x is None or not np.isfinite(x) else format(x, spec)


def table(runs: list[dict]) -> list[str]:
    """One row per seed: CCC (concatenated and per trial) of every model and reference, and the KD test."""
    res0 = runs[0]["results"]
    names = res0["models"] + res0.get("references", [])
    head = ["seed", "folds"] + [f"{n} CCC" for n in names] + ["student / KD per-trial CCC", "KD − student",
                                                                 "t-test p", "Wilcoxon p", "d_z", "KD better"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in runs:
        res = r["results"]
        t = res["tests"]["student_kd_vs_student"]
        s = res["summary"]
        pt = res["summary_per_trial"]
        diff = np.mean(_fold_ccc(res, "student_kd")) - np.mean(_fold_ccc(res, "student"))
        cells = [str(r["seed"]), str(res["n_folds"])]
        cells += [_f(s[n]["ccc"]["mean"]) + " ± " + _f(s[n]["ccc"]["sd"]) for n in names]
        cells += [_f(pt["student"]["ccc"]["mean"]) + " / " + _f(pt["student_kd"]["ccc"]["mean"]),
                  _f(diff, "+.3f"), _f(t["t_test_p"], ".3g"), _f(t["wilcoxon_p"], ".3g"),
                  _f(t["effect_size"], ".2f"), f"{t['n_better']}/{t['n_folds']}"]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _runtime(res: dict) -> str:
    """Wall time of the invocation that wrote results.json, and the folds' own compute time.

    A resumed run's wall time covers only what was left; the sum of the folds' seconds
    (each fold's time in its worker) shows the whole.
    """
    fold_s = sum(f.get("seconds", 0.0) for f in res["folds"])
    return (f"{res['runtime_s'] / 60:.1f} min wall (n_jobs {res.get('n_jobs', '?')}), "
            f"{fold_s / 60:.1f} min summed over the folds")


def seed_averaged_test(runs: list[dict]) -> dict | None:
    """LOSO: KD vs student on each subject's CCC averaged over seeds (same folds under every seed)."""
    if len(runs) < 2:
        return None
    folds = [[f["test"]["subjects"] for f in r["results"]["folds"]] for r in runs]
    if any(f != folds[0] for f in folds):
        return None
    kd = np.mean([_fold_ccc(r["results"], "student_kd") for r in runs], axis=0)
    st = np.mean([_fold_ccc(r["results"], "student") for r in runs], axis=0)
    return {"seeds": [r["seed"] for r in runs], **paired_tests(kd, st, names=("student_kd", "student")),
            "mean_student_kd": float(kd.mean()), "mean_student": float(st.mean())}


def write_readme(all_runs: dict[str, list[dict]]) -> Path:
    lines = ["# The recipe on the real MAHNOB-HCI feature release", "",
             "Written by `python benchmarks/bench_real.py` (do not edit by hand). Data: the public feature "
             "release of Soleymani et al. 2016 (239 trials, 24 subjects; see `emokd.features` and the "
             "README's *Real data* section). Teacher = TCN on the 327 facial features, student = TCN on the "
             "128 EEG band features, KD = L1 between their TCN features (weight 1); book preset "
             "(`emokd.config.experiment_config('book', ...)`), CCC loss, early stopping on a validation "
             "split of the training trials.", "",
             "Columns: mean ± SD over folds of the concatenated CCC (each fold's test trials scored as one "
             "sequence, as in the paper), then the per-trial CCC of the student and the KD student, the mean "
             "difference in concatenated CCC and the paired tests over folds. `ref_*` are untrained reference "
             "points on the same test trials: the constant 0, the training mean (both CCC 0 by definition) "
             "and each test trial's own mean, an oracle that reads the test labels. RMSE and PCC are in each "
             "run's `results.md`.", ""]
    for protocol, runs in all_runs.items():
        if not runs:
            continue
        lines += [f"## {protocol.upper()} ({runs[0]['results']['n_folds']} folds)", ""] + table(runs) + [""]
        avg = seed_averaged_test(runs) if protocol == "loso" else None
        if avg:
            lines += [f"Seed-averaged (seeds {', '.join(map(str, avg['seeds']))}), KD student vs student over "
                      f"{avg['n_folds']} subjects: mean CCC {avg['mean_student_kd']:.3f} vs "
                      f"{avg['mean_student']:.3f}, t-test p = {_f(avg['t_test_p'], '.3g')}, Wilcoxon p = "
                      f"{_f(avg['wilcoxon_p'], '.3g')}, d_z = {_f(avg['effect_size'], '.2f')}, KD better for "
                      f"{avg['n_better']} of {avg['n_folds']} subjects.", ""]
        lines += ["Commands and runtimes (2-core CPU):", ""]
        lines += [f"- `{r['command']}` — {_runtime(r['results'])}" for r in runs] + [""]
    out = RESULTS / "README.md"
    tmp = out.with_suffix(".md.tmp")
    tmp.write_text("\n".join(lines))
    os.replace(tmp, out)
    return out


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "mahnob-hci"))
    ap.add_argument("--protocols", nargs="+", default=["trs", "loso"], choices=["trs", "loso"])
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    ap.add_argument("--n-jobs", type=int, default=2)
    ap.add_argument("--rerun", action="store_true", help="run again (from scratch) what results/ already holds")
    ap.add_argument("--report-only", action="store_true", help="only rewrite results/mahnob-features/README.md")
    args = ap.parse_args(argv)
    RESULTS.mkdir(parents=True, exist_ok=True)
    done = {p: [] for p in ("trs", "loso")}
    for seed in [] if args.report_only else args.seeds:
        for protocol in args.protocols:
            wall = run_one(protocol, seed, args.n_jobs, args.data, rerun=args.rerun)
            done_in = "already in results/" if wall is None else f"{wall:.0f} s"
            print(f"{protocol} seed {seed}: {done_in}", flush=True)
    # the README covers every run present, including those of earlier invocations
    for protocol in done:
        paths = RESULTS.glob(f"{protocol}_seed*/results.json")
        for path in sorted(paths, key=lambda p: int(p.parent.name.rpartition("seed")[2])):
            res = json.loads(path.read_text())
            seed = res["seed"]
            cmd = command(protocol, seed, res["n_jobs"], "../shared/data/mahnob-hci",
                          Path(f"emokd-runs/mahnob-features/{protocol}_seed{seed}"))
            done[protocol].append({"protocol": protocol, "seed": seed, "results": res, "runtime_s": res["runtime_s"],
                                   "command": "python " + " ".join(cmd[1:-1])})
    readme = write_readme(done)
    summary = {p: [{k: r[k] for k in ("seed", "runtime_s", "command")}
                   | {"kd_vs_student": r["results"]["tests"]["student_kd_vs_student"]} for r in runs]
               for p, runs in done.items()}
    print(readme.read_text())
    print(write_result("real_mahnob", {"data": args.data, "runs": summary}))


if __name__ == "__main__":
    main()
