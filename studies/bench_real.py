"""The recipe on the real MAHNOB-HCI feature release: LOSO and TRS, several seeds, several configurations.

For every configuration, protocol and seed it runs the command a user runs,

    python -m emokd run <config options> --protocol P --seed S --n-jobs N --data DATA --out RUN

(RUN = emokd-runs/mahnob-features/<name>; a rerun resumes: finished folds are reused and
interrupted training continues from its checkpoints), then copies the small outputs --
results.json, results.md, results.csv and figures/fold_ccc.png -- to
results/mahnob-features/<name>/ and writes results/mahnob-features/README.md: the declared
tests, the commands, seeds, runtimes, one table per configuration and protocol (seed by seed),
the paired tests and a figure of the per-fold KD gain against the teacher's CCC. Checkpoints
and predictions (which hold the labels, GPL-3.0 upstream) stay in RUN and are never committed.
While a run goes, every finished fold's record (its ``fold.json``: metrics, partitions, best
epochs, configuration, the data's fingerprint; no labels, predictions or weights) is copied to
results/mahnob-features/<name>/folds/ every 30 s (``--save-records`` does it for every run folder
at once). A run stopped with the session resumes in the next from a fresh checkout: the rerun
passes those records to ``python -m emokd run --fold-records``, which checks and reuses them, and
trains only the folds without one.

Configurations (:data:`CONFIGS`; <name> = <config>_<P>_seed<S>, the book runs keep <P>_seed<S>):

- ``book``: the book preset (the first real-data runs);
- ``paper``: the released code's settings (``--preset paper``);
- ``book_subject``: the book settings with subject normalisation of the EEG and facial features;
- ``kdsel``: whichever of ``paper`` and ``book_subject`` has the better validation CCC on this
  protocol (:func:`choose_base`, declared in the README before the runs) with the KD weight
  chosen per fold on validation (``--kd-select``); its folder is ``kdsel-<base>_<P>_seed<S>``
  and starts from the base run's checkpoints (same seed), so its teacher, student and KD
  student are the base run's.

For LOSO the folds are the same subjects under every seed, so it also tests on the per-subject
CCC averaged over the seeds (declared before any result was seen; TRS folds differ by seed, so
TRS is reported seed by seed).

Run:  python studies/bench_real.py [--configs book paper book_subject kdsel] [--protocols trs loso]
                                   [--seeds 0 1 2] [--n-jobs 2] [--device auto] [--rerun] [--report-only]
      python studies/bench_real.py --list ...   # the runs, their state and commands; nothing runs
Writes results/mahnob-features/ and studies/results/real_mahnob.json (runtimes).
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from emokd.core.config import BOOK_FULL_PASS_EARLY_STOP
from emokd.core.fileio import atomic_path, write_bytes, write_json, write_text
from emokd.core.tables import markdown_table
from emokd.training.runs import copy_fold_records

# emokd.evaluation.collection and .stats (which load scipy.stats: about 1.5 s) are imported by the functions
# that report, so that --list answers at once

ROOT = Path(__file__).resolve().parents[1]
#: the study's results (committed) and its run folders (not committed); --results and --runs move them
RESULTS = ROOT / "results" / "mahnob-features"
RUNS = ROOT / "emokd-runs" / "mahnob-features"
#: the runtimes of every run, as JSON
RUNTIMES = Path(__file__).resolve().parent / "results" / "real_mahnob.json"
KEEP = ("results.json", "results.md", "results.csv", "figures/fold_ccc.png")
#: results/mahnob-features/<name>/folds/: each finished fold's record (its fold.json), saved as the run goes, so
#: that a run stopped with the session resumes in the next one (`--fold-records`) from a fresh checkout
RECORDS = "folds"


#: configuration -> the options of `python -m emokd run` that make it. The book settings keep the
#: training of the runs committed before 2026-12-03 (emokd.core.config.book_full_pass_schedule: full-pass epochs,
#: at most 40, plateau patience 3, early stop 8; the book preset's epochs now draw a third of the
#: windows, chosen on the synthetic book data), so that these runs resume from and reproduce their fold
#: records. They were made with `--preset book --early-stop 8` (the same configuration before then)
BOOK_V1 = ["--preset", "book", "--max-epochs", "40", "--early-stop", str(BOOK_FULL_PASS_EARLY_STOP),
           "--lr-patience", "3", "--epoch-fraction", "1"]
CONFIGS: dict[str, list[str]] = {
    "book": BOOK_V1,
    "paper": ["--preset", "paper"],
    "book_subject": BOOK_V1 + ["--normalisation", "subject", "--face-normalisation", "subject"],
}
KD_GRID = "0,0.1,0.3,1,3"  # the kdsel grid: 0 (the plain student) and 1 (the KD student) are reused
KDSEL_BASES = ("paper", "book_subject")
LABELS = {"book": "book settings (train normalisation)", "paper": "paper preset (the released code's settings)",
          "book_subject": "book settings, subject normalisation"}
#: files of a base run that a kdsel run starts from (its teacher, student and KD student)
REUSE = ("teacher.ckpt", "teacher.log.jsonl", "student.ckpt", "student.log.jsonl", "student_kd.ckpt",
         "student_kd.log.jsonl")


def run_name(config: str, protocol: str, seed: int) -> str:
    return f"{protocol}_seed{seed}" if config == "book" else f"{config}_{protocol}_seed{seed}"


def config_options(config: str) -> list[str]:
    """``kdsel-<base>`` -> the base's options plus the KD grid; otherwise :data:`CONFIGS`."""
    if config.startswith("kdsel-"):
        return CONFIGS[config.removeprefix("kdsel-")] + ["--kd-select", KD_GRID]
    return CONFIGS[config]


def command(protocol: str, seed: int, n_jobs: int, data: str, out: Path, config: str = "book",
            device: str | None = None, scheduler: str | None = None) -> list[str]:
    return ([sys.executable, "-m", "emokd", "run", *config_options(config), "--protocol", protocol, "--seed",
             str(seed), "--n-jobs", str(n_jobs), "--data", data, "--out", str(out)]
            + (["--device", device] if device else []) + (["--scheduler", scheduler] if scheduler else [])
            + ["--quiet"])


def validation_ccc(runs: list[dict]) -> float:
    """The criterion of :func:`choose_base`: the mean over folds and seeds of the best validation CCC of the
    student and the KD student (both models averaged); test scores are never read."""
    return float(np.mean([np.mean([f["best_val_ccc"]["student"], f["best_val_ccc"]["student_kd"]])
                          for r in runs for f in r["folds"]]))


def choose_base(protocol: str) -> tuple[str, dict]:
    """The kdsel base for ``protocol``: the configuration of :data:`KDSEL_BASES` with the better validation CCC
    over the seeds finished for every base (results/ copies). Raises SystemExit if a base has no run."""
    found = {b: {r["seed"]: r for r in _load(b, protocol)} for b in KDSEL_BASES}
    seeds = sorted(set.intersection(*(set(v) for v in found.values())))
    if not seeds:
        raise SystemExit(f"kdsel on {protocol}: run {' and '.join(KDSEL_BASES)} on {protocol} first "
                         f"(finished seeds: { {b: sorted(v) for b, v in found.items()} })")
    scores = {b: validation_ccc([found[b][s] for s in seeds]) for b in KDSEL_BASES}
    best = max(KDSEL_BASES, key=lambda b: scores[b])  # ties: the first, paper
    return best, {"seeds": seeds, "validation_ccc": scores, "base": best}


def base_choice_line(protocol: str) -> str:
    """One sentence of the report: which base :func:`choose_base` picks for ``protocol`` and on what numbers,
    recomputed from the finished runs (validation CCC only)."""
    base, why = choose_base(protocol)
    scores = ", ".join(f"`{b}` {v:.3f}" for b, v in why["validation_ccc"].items())
    return (f"The base, chosen on validation (`choose_base`, recomputed from the finished runs): `{base}`; mean best "
            f"validation CCC of the student and the KD student over the seeds finished for both bases "
            f"({', '.join(map(str, why['seeds']))}): {scores}. Test scores are not read.")


def _seed_from_base(base_run: Path, run: Path) -> None:
    """Copy the base run's checkpoints into a new kdsel run folder (fit resumes from them exactly)."""
    if not base_run.is_dir() or (run / "folds").exists():
        return
    for fold_dir in sorted((base_run / "folds").glob("fold_*")):
        dest = run / "folds" / fold_dir.name
        dest.mkdir(parents=True, exist_ok=True)
        for name in REUSE:
            if (fold_dir / name).exists():
                write_bytes(dest / name, (fold_dir / name).read_bytes())


def run_one(protocol: str, seed: int, n_jobs: int, data: str, rerun: bool = False, config: str = "book",
            device: str | None = None, scheduler: str | None = None) -> float | None:
    """Run (or resume) one experiment and copy its small outputs; returns the wall time in seconds.

    A finished run (its results.json copied to results/) is kept as it is unless ``rerun``:
    resuming it would rewrite its runtime with the seconds the resume took. An interrupted run
    resumes from its run folder (finished folds reused, training continued from checkpoints).
    """
    run = RUNS / run_name(config, protocol, seed)
    dest = RESULTS / run.name
    if (dest / "results.json").exists() and not rerun:
        return None
    if config.startswith("kdsel-") and not rerun:
        _seed_from_base(RUNS / run_name(config.removeprefix("kdsel-"), protocol, seed), run)
    records = dest / RECORDS
    t0 = time.perf_counter()
    cmd = command(protocol, seed, n_jobs, data, run, config, device, scheduler) + (["--fresh"] if rerun else [])
    if not rerun and any(records.glob("fold_*.json")):  # folds finished in an earlier session
        cmd[-1:-1] = ["--fold-records", str(records)]
    print("$ " + " ".join(cmd), flush=True)
    proc = subprocess.Popen(cmd, cwd=ROOT)
    while proc.poll() is None:  # each finished fold is kept in results/ at once: a later session resumes there
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            pass
        copy_fold_records(run, records)
    if proc.returncode:
        raise subprocess.CalledProcessError(proc.returncode, cmd)
    wall = time.perf_counter() - t0
    for name in KEEP:
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        write_bytes(dest / name, (run / name).read_bytes())
    return wall


def _fold_ccc(res: dict, model: str, scheme: str = "concatenated") -> list[float]:
    return [f["metrics"][model][scheme]["ccc"] for f in res["folds"]]


def _f(x: float, spec: str = ".3f") -> str:
    return "n/a" if x is None or not np.isfinite(x) else format(x, spec)


def table(runs: list[dict], kd_model: str = "student_kd") -> list[str]:
    """One row per seed: CCC (concatenated and per trial) of every model and reference, and the KD test."""
    res0 = runs[0]["results"]
    names = res0["models"] + res0.get("references", [])
    head = ["seed", "folds"] + [f"{n} CCC" for n in names] + [f"student / {_short(kd_model)} per-trial CCC",
                                                                 f"{_short(kd_model)} − student", "t-test p",
                                                                 "Wilcoxon p", "d_z", "KD better"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in runs:
        res = r["results"]
        t = res["tests"][f"{kd_model}_vs_student"]
        s = res["summary"]
        pt = res["summary_per_trial"]
        diff = np.mean(_fold_ccc(res, kd_model)) - np.mean(_fold_ccc(res, "student"))
        cells = [str(r["seed"]), str(res["n_folds"])]
        cells += [_f(s[n]["ccc"]["mean"]) + " ± " + _f(s[n]["ccc"]["sd"]) for n in names]
        cells += [_f(pt["student"]["ccc"]["mean"]) + " / " + _f(pt[kd_model]["ccc"]["mean"]),
                  _f(diff, "+.3f"), _f(t["t_test_p"], ".3g"), _f(t["wilcoxon_p"], ".3g"),
                  _f(t["effect_size"], ".2f"), f"{t['n_better']}/{t['n_folds']}"]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _short(model: str) -> str:
    return {"student_kd": "KD", "student_kd_selected": "KD (selected)"}.get(model, model)


def _runtime(res: dict) -> str:
    """Wall time of the invocation that wrote results.json, and the folds' own times (wall, in their worker).

    A run resumed in a later session counts only what was left in its wall time (a session's end
    stops it without recording its time). Each fold's time is wall time in its worker, so it
    includes the time the queue was paused or shared the CPU with other work: their sum is an
    upper bound on the compute; the median fold is the robust figure.
    """
    fold_s = [f.get("seconds", 0.0) for f in res["folds"]]
    return (f"{res['runtime_s'] / 60:.1f} min wall in its last invocation (n_jobs {res.get('n_jobs', '?')}); "
            f"folds {np.median(fold_s) / 60:.1f} min median, {sum(fold_s) / 60:.1f} min summed (wall time in "
            "their worker: an upper bound on the compute)")


def seed_averaged_test(runs: list[dict], a: str = "student_kd", b: str = "student", *,
                       min_runs: int = 2) -> dict | None:
    """LOSO: model ``a`` vs ``b`` on each subject's CCC averaged over seeds (:func:`emokd.evaluation.collection.seed_averaged_test`;
    ``min_runs=1``: a configuration run with one seed, as kdsel was declared, gets the test over its subjects)."""
    from emokd.evaluation import collection

    return collection.seed_averaged_test(
        [collection.StudyRun(r.get("config", ""), r.get("config", ""), r["protocol"], r["seed"], r["results"])
         for r in runs], a, b, min_runs=min_runs)


#: the seed-averaged LOSO tests of every configuration, ``(a, b)``: a vs b on each subject's CCC
SEED_TESTS = {"book": [("student_kd", "student")],
              "paper": [("student_kd", "student"), ("student", "ref_ridge_student"),
                        ("teacher", "ref_ridge_teacher")],
              "book_subject": [("student_kd", "student"), ("student", "ref_ridge_student"),
                               ("teacher", "ref_ridge_teacher")],
              "kdsel": [("student_kd_selected", "student")]}

DECLARED = """## Issue 15: what is tested, declared before the runs

Written on {date}, before any run of the configurations below (issue 15, *Real data,
examined*). The book-settings runs above were the first look; these ask whether the null result
holds under the released code's own settings, under subject normalisation and with the KD weight
chosen on validation, and how the networks compare with ridge regression on the same features.

Configurations (`studies/bench_real.py --configs ...`):

- **(a) `paper`**: `--preset paper`, the released code's settings (lr 1e-5, batch 2, 15 student
  / 30 teacher epochs, best weights reloaded every epoch, EEG not normalised, facial features
  z-scored with training statistics);
- **(b) `book_subject`**: the book settings with every subject's EEG and facial features
  z-scored with that subject's own statistics (for the test subject: a calibration on its
  unlabelled recordings);
- **(c) `kdsel-<base>`**: the base, (a) or (b), whose student and KD student have the higher
  validation CCC (mean over folds and the seeds finished for both, of the two models' best
  validation CCC; test scores are not read), with the KD weight chosen per fold from
  {{0, 0.1, 0.3, 1, 3}} by validation CCC (0 = the plain student), scored as `student_kd_selected`.
  Chosen separately for LOSO and TRS.

Seeds: LOSO 0, 1, 2 for (a) and (b), at least seed 0 for (c); TRS seed 0 for each.

*Amended on 2026-12-03, before any (c) run had started:* (c) under LOSO runs seed 1, not 0. A
kdsel run resumes its teacher, student and weight-1 KD student from its base's run folder of the
same seed (`_seed_from_base`); the folder of `book_subject` LOSO seed 0 was not kept, that of
seed 1 holds every fold's checkpoints, so seed 1 trains 3 students per fold instead of a teacher
and 5 (about 1.5 h instead of 3 h on this machine). No (c) result existed to choose from; the
seed-1 student and KD student are the base run's own, so the comparison with them is exact.
*2026-12-04, still before any (c) run:* that run folder was lost with the machine between
sessions, so (c) seed 1 trains its teacher, student and weight-1 KD student again from scratch
with the base's options and seed. The seed stays 1 (changing it back would choose again with
nothing gained). On a deterministic CPU these retrained models equal the base's; the section of
(c) reports how closely they do, fold by fold (`emokd.evaluation.collection.fold_agreement`).

**The tests** (LOSO, as for the book runs): for each subject, its concatenated test CCC
averaged over the seeds; paired two-sided t-test and Wilcoxon signed-rank test over the 24
subjects, effect size d_z, the number of subjects where the first model is better. Per
configuration:

1. KD student vs student (for (c): `student_kd_selected` vs student) -- H1: the KD student's
   CCC is higher (the paper: p < 0.05 under LOSO). Three such tests (a, b, c), reported with
   raw p-values and Holm's correction over the three.
2. TCN student vs `ref_ridge_student` (ridge on the same EEG features and normalisation) and
   teacher vs `ref_ridge_teacher` (ridge on the 327 facial features) -- H2: the networks beat
   ridge. Four tests ((a), (b) x 2), Holm-corrected over the four.

*Added on 2026-12-04, after the (a) and (b) results of seeds 0 and 1 were seen and before the
following was computed on any run; exploratory, not one of the declared tests:* under (a) the KD
student beat the student (seed-averaged p = 5e-05) while the student stayed far below ridge on its
own features (0.12 vs 0.31); under (b) KD did not help and the student was at or above ridge. One
reading: distillation makes up for a student short of training, not for something the EEG
features lack. It predicts, fold by fold, that the KD gain (test CCC) rises with the student's
shortfall below ridge on validation (`student_shortfall`, `gain_shortfall_spearman` in the
diagnostics below): Spearman > 0 under (a); under (b) a shortfall near or below 0. The other
reading predicts no relation. Over 48 (two seeds) or 72 (three) LOSO folds x seeds, a Spearman
of about 0.28 or 0.23 is the two-sided 5 % threshold; folds of one subject under several seeds
are not independent, so it is read as a pattern, not a test.

TRS (folds differ by seed) is reported seed by seed with the same paired tests over its 10
folds, as secondary evidence. Expectation, stated now: on the book runs KD did not help (LOSO
p = 0.74 seed-averaged); we expect no significant KD gain in (a) or (b), and ridge to be close
to the TCN student (the per-step EEG features carry little temporal structure beyond what a
linear read-out gets). A null result is reported as it is; no configuration is chosen on test
scores.
"""
DECLARED_ON = "2026-12-01"  # the date of the declaration (the commit that added it)


def kd_gain_figure(runs: list, out: Path) -> Path | None:
    """Per-fold KD gain (KD student − student, concatenated CCC) against the teacher's CCC, one panel per
    configuration and protocol (every seed's folds as points): :func:`emokd.evaluation.collection.plot_kd_gains`
    of ``runs`` (:class:`emokd.evaluation.collection.StudyRun`)."""
    from emokd.evaluation import collection

    if not runs:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = collection.plot_kd_gains(runs)
    with atomic_path(out) as tmp:
        fig.savefig(tmp, dpi=120, format="png")
    plt.close(fig)
    return out


def _load(config: str, protocol: str) -> list[dict]:
    """The finished runs of a configuration (results/ copies), by seed."""
    pattern = {"book": f"{protocol}_seed*", "kdsel": f"kdsel-*_{protocol}_seed*"}.get(
        config, f"{config}_{protocol}_seed*")
    found = []
    for path in RESULTS.glob(f"{pattern}/results.json"):
        if config != "kdsel" and path.parent.name != run_name(config, protocol,
                                                              int(path.parent.name.rpartition("seed")[2])):
            continue
        found.append(json.loads(path.read_text()) | {"_name": path.parent.name})
    return sorted(found, key=lambda r: r["seed"])


def _runs_of(config: str, protocol: str) -> list[dict]:
    """What :func:`write_readme` needs of each finished run: seed, results, the command."""
    out = []
    for res in _load(config, protocol):
        name = res.pop("_name")
        cfg_name = name.rpartition(f"_{protocol}_")[0] if config != "book" else "book"
        cmd = command(protocol, res["seed"], res["n_jobs"], "../shared/data/mahnob-hci",
                      Path(f"emokd-runs/mahnob-features/{name}"), cfg_name)
        out.append({"protocol": protocol, "seed": res["seed"], "results": res, "runtime_s": res["runtime_s"],
                    "config": cfg_name, "command": "python " + " ".join(cmd[1:-1])})
    return out


#: how the README writes the columns of :func:`emokd.evaluation.collection.diagnostics` (default "+.3f")
DIAG_FORMAT = {"gain_teacher_spearman": "+.2f", "gain_shortfall_spearman": "+.2f", "seed_sd_student": ".3f",
               "best_epoch_student": ".1f", "best_epoch_kd": ".1f"}


#: the study's other reports, linked from the top of the README where they exist (file, what it holds)
BESIDE = (("emg_controls.md", "how much of the EEG's valence is the face's muscles: ridge band and channel "
                              "ablations, `studies/emg_controls.py`"),
          ("comparators.md", "published numbers on the same labels beside ours, each with where it was read, "
                             "`studies/comparators.py`"),
          ("reanalysis.md", "the re-analysis of issue 34, `studies/reanalysis.py`"))


def write_readme(all_runs: dict[tuple[str, str], list[dict]]) -> Path:
    from emokd.evaluation import collection
    from emokd.evaluation.stats import holm

    lines = ["# The recipe on the real MAHNOB-HCI feature release", "",
             "Written by `python studies/bench_real.py` (do not edit by hand). Data: the public feature "
             "release of Soleymani et al. 2016 (239 trials, 24 subjects; see `emokd.io.features` and the "
             "README's *Real data* section). Teacher = TCN on the 327 facial features, student = TCN on the "
             "128 EEG band features, KD = L1 between their TCN features (weight 1); book preset "
             "(`emokd.core.config.experiment_config('book', ...)`), CCC loss, early stopping on a validation "
             "split of the training trials.", "",
             "Columns: mean ± SD over folds of the concatenated CCC (each fold's test trials scored as one "
             "sequence, as in the paper), then the per-trial CCC of the student and the KD student, the mean "
             "difference in concatenated CCC and the paired tests over folds. `ref_*` are untrained reference "
             "points on the same test trials: the constant 0, the training mean (both CCC 0 by definition) "
             "and each test trial's own mean, an oracle that reads the test labels. RMSE and PCC are in each "
             "run's `results.md`.", ""]
    beside = [f"[`{name}`]({name}) ({what})" for name, what in BESIDE if (RESULTS / name).is_file()]
    if beside:
        lines += ["Beside the runs: " + "; ".join(beside) + ".", ""]
    study = collection.load_runs(RESULTS)  # every finished run, its configuration read from its results
    glance = collection.markdown_summary(study)
    if glance:
        lines += ["## Every configuration at a glance", "",
                  "Test CCC, each cell *concatenated / per trial*, mean ± SD over every (seed, fold) score of "
                  "the configuration and protocol (`emokd.evaluation.collection.markdown_summary`; the configuration is "
                  "read from each run's results.json). `book` = the book preset; `book_subject` = the same "
                  "with subject normalisation; `paper` = the released code's settings; `kdsel-<base>` = the "
                  "base with the KD weight chosen per fold on validation (`student_kd_selected`). "
                  "`ref_ridge_*` = ridge regression on the same features and normalisation (regularisation "
                  "chosen on validation); `ref_trial_mean_oracle` reads the test labels; `ref_train_mean` and "
                  "`ref_zero` are constants (CCC 0 by definition). – = not computed by that run (the first "
                  "book runs predate the ridge references). Seed by seed, with the paired tests, below.", "",
                  *glance, ""]
    for (config, protocol), runs in all_runs.items():
        if config != "book" or not runs:
            continue
        lines += _section(config, protocol, runs, f"## {protocol.upper()} ({runs[0]['results']['n_folds']} folds)")
    lines += [DECLARED.format(date=DECLARED_ON)]
    family = {"kd": [], "ridge": []}
    for (config, protocol), runs in all_runs.items():
        if config == "book" or not runs:
            continue
        label = LABELS.get(config, config)
        if config.startswith("kdsel"):
            label = f"{LABELS[config.removeprefix('kdsel-')]} + KD weight chosen on validation"
        lines += _section(config, protocol, runs, f"## {config}: {label}, {protocol.upper()} "
                                                  f"({runs[0]['results']['n_folds']} folds)", family)
    for name, tests in family.items():
        if len(tests) > 1:
            adj = holm([t["t_test_p"] for t in tests])
            lines += [f"Holm-corrected t-test p over the {len(tests)} {'KD' if name == 'kd' else 'ridge'} "
                      "tests: " + "; ".join(f"{t['label']}: {p:.3g}" for t, p in zip(tests, adj)), ""]
    figure = kd_gain_figure(study, RESULTS / "kd_gain_vs_teacher.png")
    if figure is not None:
        lines += ["## Per-fold KD gain against the teacher", "",
                  "KD student − student (concatenated test CCC) against the teacher's CCC, every fold of "
                  "every seed, one panel per configuration and protocol (its title: the Spearman correlation of the "
                  "two over those folds):", "",
                  "![Per-fold KD gain against the teacher's CCC](kd_gain_vs_teacher.png)", ""]
    diag = collection.diagnostics(study)
    if not diag.empty:
        cols = list(collection.DIAGNOSTICS)
        lines += ["## What the numbers say about the KD gains", "",
                  "Per configuration and protocol (`emokd.evaluation.collection.diagnostics`; chapter 08 reads them "
                  "the same way):", "", *[f"- `{c}`: {collection.DIAGNOSTICS[c]}" for c in cols], ""]
        table = diag.assign(protocol=diag["protocol"].str.upper(),
                            **{c: [_f(v, DIAG_FORMAT.get(c, "+.3f")) for v in diag[c]] for c in cols})
        table = table[["configuration", "protocol", "seeds", "n", *cols]].rename(columns={"n": "folds x seeds"})
        lines += [*markdown_table(table), ""]
    lines += in_progress()
    return write_text(RESULTS / "README.md", "\n".join(lines))


def in_progress() -> list[str]:
    """README lines for the runs that have fold records but no results.json yet (stopped with a session)."""
    rows = []
    for records in sorted(RESULTS.glob(f"*/{RECORDS}")):
        if (records.parent / "results.json").exists() or not (files := sorted(records.glob("fold_*.json"))):
            continue
        rec = json.loads(files[-1].read_text())
        cfg = rec.get("config", {})
        # LOSO: one fold per subject of the data, all of which appear in any fold's partition
        subjects = {s for part in ("train", "validation", "test") for s in (rec.get(part) or {}).get("subjects", [])}
        total = len(subjects) if cfg.get("protocol") == "loso" else cfg.get("n_folds", "?")
        hours = sum(json.loads(f.read_text()).get("seconds", 0.0) for f in files) / 3600
        rows.append(f"| {records.parent.name} | {len(files)} of {total} | {hours:.1f} h |")
    if not rows:
        return []
    return ["## Runs in progress", "",
            "Folds finished so far (their records in `<run>/folds/`, no labels or weights); the same "
            "`bench_real.py` command resumes each run where it stopped, in any later session.", "",
            "| run | folds finished | fold time so far (wall, summed; an upper bound on the compute) |", "|---|---|---|", *rows, ""]


def _section(config: str, protocol: str, runs: list[dict], title: str, family: dict | None = None) -> list[str]:
    from emokd.evaluation import collection

    kd = "student_kd_selected" if config.startswith("kdsel") else "student_kd"
    lines = [title, ""] + table(runs, kd) + [""]
    if kd == "student_kd_selected":
        weights = [w for r in runs for w in r["results"].get("kd_selected_weights", [])]
        vals, counts = np.unique(weights, return_counts=True)
        lines += ["KD weights chosen on validation (folds x seeds): "
                  + ", ".join(f"{v:g}: {c}" for v, c in zip(vals, counts)), ""]
        base_name = config.removeprefix("kdsel-")
        lines += [base_choice_line(protocol), ""]
        for r in runs:
            base = {b["seed"]: b for b in _load(base_name, protocol)}.get(r["seed"])
            if base is None:
                continue
            agree = collection.fold_agreement(r["results"], base)
            lines += [f"Seed {r['seed']}: its teacher, student and weight-1 KD student (the base's options and "
                      f"seed) against the base run `{run_name(base_name, protocol, r['seed'])}`: "
                      + "; ".join(f"{m}: same best epoch in {a['same_best_epoch']} of {a['folds']} folds, "
                                  f"largest |difference| in test CCC {a['max_abs_ccc_diff']:.2g}"
                                  for m, a in agree.items()) + ".", ""]
    for a, b in SEED_TESTS.get(config.partition("-")[0], []) if protocol == "loso" else []:
        avg = seed_averaged_test(runs, a, b, min_runs=1)
        if not avg:
            continue
        if config == "book":  # the wording of the first real-data runs, kept
            lines += [f"Seed-averaged (seeds {', '.join(map(str, avg['seeds']))}), KD student vs student over "
                      f"{avg['n_folds']} subjects: mean CCC {avg['mean_student_kd']:.3f} vs "
                      f"{avg['mean_student']:.3f}, t-test p = {_f(avg['t_test_p'], '.3g')}, Wilcoxon p = "
                      f"{_f(avg['wilcoxon_p'], '.3g')}, d_z = {_f(avg['effect_size'], '.2f')}, KD better for "
                      f"{avg['n_better']} of {avg['n_folds']} subjects.", ""]
            continue
        which = (f"Seed-averaged (seeds {', '.join(map(str, avg['seeds']))})" if len(avg["seeds"]) > 1
                 else f"Seed {avg['seeds'][0]} (the one seed run)")
        lines += [f"{which}, {a} vs {b} over "
                  f"{avg['n_folds']} subjects: mean CCC {avg[f'mean_{a}']:.3f} vs {avg[f'mean_{b}']:.3f}, "
                  f"t-test p = {_f(avg['t_test_p'], '.3g')}, Wilcoxon p = {_f(avg['wilcoxon_p'], '.3g')}, "
                  f"d_z = {_f(avg['effect_size'], '.2f')}, {a} better for {avg['n_better']} of "
                  f"{avg['n_folds']} subjects.", ""]
        if family is not None and np.isfinite(avg["t_test_p"]):
            family["kd" if b == "student" else "ridge"].append(
                {"label": f"{config} {a} vs {b}", "t_test_p": avg["t_test_p"]})
    if config == "book":
        lines += ["Commands and runtimes (2-core CPU):", ""]
    else:
        lines += ["Commands and runtimes:", ""]
    lines += [f"- `{r['command']}` — {_runtime(r['results'])}" for r in runs] + [""]
    return lines


def main(argv=None) -> None:
    global RESULTS, RUNS
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "mahnob-hci"))
    ap.add_argument("--configs", nargs="+", default=["book"], choices=[*CONFIGS, "kdsel"],
                    help="configurations to run (default: book); kdsel needs paper and book_subject finished")
    ap.add_argument("--protocols", nargs="+", default=["trs", "loso"], choices=["trs", "loso"])
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    ap.add_argument("--n-jobs", type=int, default=2)
    ap.add_argument("--device", help="passed to `python -m emokd run --device` (default: its auto)")
    ap.add_argument("--scheduler", metavar="ADDRESS|FILE",
                    help="run the folds on this Dask cluster (`python -m emokd run --scheduler`; with --n-jobs -1 as "
                         "many at once as it runs); the workers must see --data and the run folders")
    ap.add_argument("--rerun", action="store_true", help="run again (from scratch) what results/ already holds")
    ap.add_argument("--report-only", action="store_true", help="only rewrite results/mahnob-features/README.md")
    ap.add_argument("--save-records", action="store_true",
                    help="only copy the finished folds of every run folder to results/ (fold records) and exit")
    ap.add_argument("--list", action="store_true",
                    help="run and write nothing: print each run of --configs, --protocols and --seeds (name, state, "
                         "command; kdsel: the base it would choose, and why)")
    ap.add_argument("--results", type=Path, default=RESULTS, help="the study's results (default: %(default)s)")
    ap.add_argument("--runs", type=Path, default=RUNS, help="the run folders (default: %(default)s)")
    ap.add_argument("--runtimes", type=Path, default=RUNTIMES, help="the runtimes' JSON (default: %(default)s)")
    args = ap.parse_args(argv)
    RESULTS, RUNS = args.results, args.runs
    if args.list:
        return list_runs(args)
    RESULTS.mkdir(parents=True, exist_ok=True)
    if args.save_records:
        for run in sorted(p for p in RUNS.iterdir() if p.is_dir()) if RUNS.is_dir() else []:
            if copied := copy_fold_records(run, RESULTS / run.name / RECORDS):
                print(f"{run.name}: folds {copied} saved", flush=True)
        return
    for config in [] if args.report_only else args.configs:
        for seed in args.seeds:
            for protocol in args.protocols:
                name = config
                if config == "kdsel":
                    base, why = choose_base(protocol)
                    print(f"kdsel on {protocol}: base {base} (validation CCC {why['validation_ccc']}, "
                          f"seeds {why['seeds']})", flush=True)
                    name = f"kdsel-{base}"
                wall = run_one(protocol, seed, args.n_jobs, args.data, rerun=args.rerun, config=name,
                               device=args.device, scheduler=args.scheduler)
                done_in = "already in results/" if wall is None else f"{wall:.0f} s"
                print(f"{name} {protocol} seed {seed}: {done_in}", flush=True)
    # the README covers every run present, including those of earlier invocations
    done = {}
    for config in [*CONFIGS, "kdsel"]:
        for protocol in ("trs", "loso"):
            for r in _runs_of(config, protocol):
                done.setdefault((r["config"], protocol), []).append(r)
    readme = write_readme(done)
    summary = {(p if c == "book" else f"{c}_{p}"): [
        {k: r[k] for k in ("seed", "runtime_s", "command")}
        | {"kd_vs_student": r["results"]["tests"]["student_kd_vs_student"]} for r in runs]
        for (c, p), runs in done.items()}
    print(readme.read_text())
    print(write_json(args.runtimes, {"data": args.data, "runs": summary}, indent=2))


def list_runs(args) -> None:
    """``--list``: one line per run, ``name<TAB>state<TAB>command``; the state is ``to run``, ``N folds kept``
    (fold records from an earlier session) or the finished run's runtime (:func:`_runtime`)."""
    for config in args.configs:
        for seed in args.seeds:
            for protocol in args.protocols:
                name = config
                if config == "kdsel":
                    print(f"# kdsel on {protocol}: {base_choice_line(protocol)}")
                    name = f"kdsel-{choose_base(protocol)[0]}"
                run = run_name(name, protocol, seed)
                done = RESULTS / run / "results.json"
                kept = len(list((RESULTS / run / RECORDS).glob("fold_*.json")))
                state = (_runtime(json.loads(done.read_text())) if done.is_file()
                         else f"{kept} folds kept" if kept else "to run")
                cmd = command(protocol, seed, args.n_jobs, args.data, RUNS / run, name, args.device, args.scheduler)
                print(f"{run}\t{state}\t{shlex.join(cmd)}")


if __name__ == "__main__":
    main()
