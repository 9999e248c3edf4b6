"""Shorter student budgets read off one training against one run per budget: time, epochs trained, same numbers.

Generates and prepares the preset's dataset once (seed 0), then runs the commands a user runs, each in a
child process, in one session (so their ratio is meaningful on a noisy machine):

    python -m emokd run --preset P --student-max-epochs 12 --student-budgets 3,6 --early-stop 100 \
        --handover shuffled --data PREPARED --out one --n-jobs 2
    python -m emokd run --preset P --student-max-epochs E --early-stop 100 --handover shuffled ... # E = 3, 6, 12

(``--early-stop 100``: no student stops early, so every budget is trained in full: the largest saving the
option can make is measured, not one that depends on where early stopping happens to end a training.)
It prints and records the wall time and the epochs trained (teacher and students, summed over folds) of
both ways, their ratios, and checks that every student at every budget has the same scores both ways.

Run:  python benchmarks/bench_student_budgets.py [--preset smoke] [--budgets 3,6,12] [--n-jobs 2]
Writes benchmarks/results/student_budgets_<preset>.json.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from _results import run_measured, write_result

STUDENTS = ("student", "student_kd", "student_kd_shuffled")


def _epochs(res: dict) -> int:
    """Epochs trained in a run: its teacher's and its students' (not the shorter budgets read off them)."""
    return sum(n for f in res["folds"] for m, n in f["epochs_run"].items() if m in ("teacher", *STUDENTS))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="smoke")
    ap.add_argument("--budgets", default="3,6,12", help="the students' budgets, the largest last")
    ap.add_argument("--n-jobs", type=int, default=2)
    args = ap.parse_args()
    budgets = sorted(int(b) for b in args.budgets.split(","))
    py = sys.executable
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        data = tmp / "data"
        subprocess.run([py, "-m", "emokd", "synth", "--preset", args.preset, "--seed", "0", "--out", str(data)],
                       check=True, capture_output=True)
        subprocess.run([py, "-m", "emokd", "prepare", str(data), "--quiet"], check=True, capture_output=True)

        def run(name: str, epochs: int, shorter: list[int]) -> tuple[dict, dict]:
            cmd = [py, "-m", "emokd", "run", "--preset", args.preset, "--protocol", "loso", "--seed", "0",
                   "--student-max-epochs", str(epochs), "--early-stop", "100", "--handover", "shuffled",
                   "--n-jobs", str(args.n_jobs), "--data", str(data / "prepared"), "--out", str(tmp / name),
                   "--quiet", *(["--student-budgets", ",".join(map(str, shorter))] if shorter else [])]
            m = run_measured(cmd)
            return m, json.loads((tmp / name / "results.json").read_text())

        m_one, one = run("one", budgets[-1], budgets[:-1])
        separate = {b: run(f"e{b}", b, []) for b in budgets}
    same = all(f_one["metrics"][m if b == budgets[-1] else f"{m}_e{b}"] == f_b["metrics"][m]
               for b, (_, res) in separate.items() for f_one, f_b in zip(one["folds"], res["folds"])
               for m in STUDENTS)
    sep_seconds = sum(m["seconds"] for m, _ in separate.values())
    sep_epochs = sum(_epochs(res) for _, res in separate.values())
    result = {"preset": args.preset, "budgets": budgets, "n_jobs": args.n_jobs, "n_folds": one["n_folds"],
              "one_run": {"seconds": m_one["seconds"], "epochs_trained": _epochs(one)},
              "separate_runs": {"seconds": round(sep_seconds, 2), "epochs_trained": sep_epochs,
                                "per_budget_seconds": {str(b): m["seconds"] for b, (m, _) in separate.items()}},
              "speedup": round(sep_seconds / m_one["seconds"], 2),
              "epochs_ratio": round(sep_epochs / _epochs(one), 2),
              "same_scores": same}
    print(f"{args.preset}, budgets {budgets}, {one['n_folds']} folds: one run {m_one['seconds']:.1f} s "
          f"({_epochs(one)} epochs trained), one run per budget {sep_seconds:.1f} s ({sep_epochs} epochs): "
          f"{result['speedup']:.2f}x faster, {result['epochs_ratio']:.2f}x fewer epochs; "
          f"every student's scores the same both ways: {same}")
    print("wrote", write_result(f"student_budgets_{args.preset}", result))
    if not same:
        raise SystemExit("the shorter budgets differ from the runs with those budgets")


if __name__ == "__main__":
    main()
