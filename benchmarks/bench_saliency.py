"""Does saliency find a planted pattern? And which features do the students read on real data?

Synthetic mode (``--pattern``): plant a pattern in the preset's synthetic data, generate and
prepare it (seed --seed) under emokd-runs/saliency/<preset>_<pattern>_seed<S>/data, run the
LOSO experiment there (teacher, student, KD student; a rerun resumes finished folds), compute
the saliency of both students (emokd.saliency.run.compute_run_saliency, every method) and write
benchmarks/results/saliency_<preset>_<pattern>.json: the Spearman correlation of each map with
the planted truth, band and channel importance, the truth's band and channel shares, CCC and
runtimes. Patterns:

    default        beta (18-30 Hz) and gamma (30-45 Hz) at every channel: the paper's finding
    frontal-alpha  alpha (8-12 Hz) at Fp1, Fp2, AF3, AF4, F3, F4, Fz, F7, F8

Run mode (``--run RUN_DIR``): only the saliency of an existing run (for example a real-data
run in emokd-runs/mahnob-features/<name>); RUN_DIR/saliency.json is then copied to
results/mahnob-features/<name>/saliency.json (or to --dest).

Run:  python benchmarks/bench_saliency.py --preset book --pattern frontal-alpha [--seed 0] [--n-jobs 2]
      python benchmarks/bench_saliency.py --run emokd-runs/mahnob-features/loso_seed0
The book preset takes about as long as the book's experiment (~10 min on 2 cores); smoke: ~1 min.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import time
from pathlib import Path

import numpy as np
from _results import write_result

from emokd.core.config import (
    PRESETS,
    PlantedComponent,
    PrepareConfig,
    default_pattern,
    experiment_config,
    synth_config,
)
from emokd.core.fileio import write_bytes
from emokd.evaluation.experiment import run_experiment
from emokd.evaluation.stats import spearman
from emokd.io.prepare import prepare_dataset
from emokd.saliency.aggregation import ideal_ranking_spearman, truth_auc
from emokd.saliency.run import SALIENCY_FILE, compute_run_saliency, summary_table
from emokd.synth.synthetic import ensure_generated

ROOT = Path(__file__).resolve().parents[1]

FRONTAL = ("Fp1", "Fp2", "AF3", "AF4", "F3", "F4", "Fz", "F7", "F8")
PATTERNS: dict[str, tuple[PlantedComponent, ...]] = {
    "default": default_pattern(),
    "frontal-alpha": (PlantedComponent(8.0, 12.0, FRONTAL),),
}
REAL_RESULTS = ROOT / "results" / "mahnob-features"


def _r(x, nd=4):
    return None if x is None else round(float(x), nd)


def linear_weights(prepared: Path) -> np.ndarray:
    """|least-squares weights| of valence on all trials' z-scored band power, (n_bands, 32).

    A diagnostic, not a saliency method: what the best linear read-out of the features leans on.
    With correlated features its weights spread to features that carry no valence themselves.
    """
    from emokd.io.prepare import load_prepared

    trials = load_prepared(prepared, frames=False)
    x = np.concatenate([t["eeg_bp"].reshape(len(t["eeg_bp"]), -1) for t in trials]).astype(np.float64)
    y = np.concatenate([t["valence"] for t in trials]).astype(np.float64)
    x = (x - x.mean(axis=0)) / x.std(axis=0)
    design = np.column_stack([x, np.ones(len(x))])
    w = np.linalg.lstsq(design, y - y.mean(), rcond=None)[0][:-1]
    return np.abs(w).reshape(trials[0]["eeg_bp"].shape[1:])


def synthetic(preset: str, pattern: str, seed: int, n_jobs: int) -> dict:
    """Data with the planted pattern -> LOSO experiment -> saliency; the result dict."""
    folder = ROOT / "emokd-runs" / "saliency" / f"{preset}_{pattern}_seed{seed}"
    t0 = time.perf_counter()
    truth = ensure_generated(folder / "data", synth_config(preset, pattern=PATTERNS[pattern]), seed=seed,
                             progress=False)
    prepare_dataset(folder / "data", folder / "data" / "prepared", PrepareConfig(), progress=False)
    t1 = time.perf_counter()
    results = run_experiment(folder / "data" / "prepared", experiment_config(preset, "loso", seed), folder / "run",
                             n_jobs=n_jobs, progress=False)
    t2 = time.perf_counter()
    sal = compute_run_saliency(folder / "run")
    t3 = time.perf_counter()
    print(summary_table(sal))
    tm = np.asarray(truth["truth_map"])  # (n_bands, 32)
    models = sal["models"]
    data_ref = sal["references"]["feature_correlation"]
    lin = linear_weights(folder / "data" / "prepared")
    print(f"no model, each feature's |r| with valence: Spearman with the truth {data_ref['truth_spearman']:.3f}; "
          f"|least-squares weights| on all trials: {spearman(lin, tm, nan_policy='propagate'):.3f}")
    return {
        "preset": preset, "pattern": pattern, "seed": seed, "n_jobs": n_jobs,
        "planted": [dataclasses.asdict(c) for c in PATTERNS[pattern]],
        "bands": sal["bands"], "channels": sal["channels"], "methods": sal["methods"],
        "truth_spearman": {m: {k: _r(e[k]["truth_spearman"]) for k in sal["methods"]} for m, e in models.items()},
        "truth_auc": {m: {k: _r(e[k]["truth_auc"]) for k in sal["methods"]} for m, e in models.items()},
        "ideal_ranking_spearman": _r(ideal_ranking_spearman(tm, np.random.default_rng(seed))),
        "band_importance": {m: {k: [_r(v) for v in e[k]["band_importance"]] for k in sal["methods"]}
                            for m, e in models.items()},
        "channel_importance": {m: {k: [_r(v) for v in e[k]["channel_importance"]] for k in sal["methods"]}
                               for m, e in models.items()},
        "truth_band_share": [_r(v) for v in tm.sum(axis=1) / tm.sum()],
        "data_reference": {"what": data_ref["what"], "truth_spearman": _r(data_ref["truth_spearman"]),
                           "truth_auc": _r(data_ref["truth_auc"]),
                           "band_importance": [_r(v) for v in data_ref["band_importance"]]},
        "linear_weights": {"what": "|least-squares weights| of valence on all trials' z-scored band power",
                           "truth_spearman": _r(spearman(lin, tm, nan_policy="propagate", undefined=None)),
                           "truth_auc": _r(truth_auc(lin, tm)),
                           "band_share": [_r(v) for v in lin.sum(axis=1) / lin.sum()]},
        "truth_channel_share": [_r(v) for v in tm.sum(axis=0) / tm.sum()],
        "ccc": {m: _r(results["summary"][m]["ccc"]["mean"], 3) for m in results["models"]},
        "runtime_s": {"data": round(t1 - t0, 1), "experiment": round(t2 - t1, 1), "saliency": round(t3 - t2, 1),
                      "total": round(t3 - t0, 1), "experiment_in_results_json": results["runtime_s"]},
        "run": os.path.relpath(folder / "run", ROOT),
    }


def existing_run(run_dir: Path, dest: Path | None) -> Path:
    """Saliency of a finished run; its saliency.json copied to dest (default results/mahnob-features/<name>/)."""
    t0 = time.perf_counter()
    sal = compute_run_saliency(run_dir)
    print(summary_table(sal))
    dest = dest or REAL_RESULTS / run_dir.name
    dest.mkdir(parents=True, exist_ok=True)
    write_bytes(dest / SALIENCY_FILE, (run_dir / SALIENCY_FILE).read_bytes())
    print(f"saliency of {run_dir} in {time.perf_counter() - t0:.0f} s -> {dest / SALIENCY_FILE}")
    return dest / SALIENCY_FILE


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", choices=PRESETS, default="book")
    ap.add_argument("--pattern", choices=list(PATTERNS), default="default")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--n-jobs", type=int, default=2)
    ap.add_argument("--run", type=Path, help="only the saliency of this finished run (no training)")
    ap.add_argument("--dest", type=Path, help="with --run: copy saliency.json here (default: "
                                              "results/mahnob-features/<run name>/)")
    args = ap.parse_args()
    if args.run is not None:
        existing_run(args.run, args.dest)
        return
    result = synthetic(args.preset, args.pattern, args.seed, args.n_jobs)
    out = write_result(f"saliency_{args.preset}_{args.pattern}", result)
    print(f"{args.preset} / {args.pattern}: {result['runtime_s']['total']:.0f} s -> {out}")


if __name__ == "__main__":
    main()
