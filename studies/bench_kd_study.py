"""When can a teacher help? A controlled study of cross-modal distillation on synthetic data.

The synthetic generator's annotation model (:func:`emokd.synth.synthetic.annotate`)
makes the labels annotations of the latent valence that the face and the EEG
follow. This study varies how far the labels are from that latent state, and how
much of the face is content the EEG cannot predict, and measures the KD
student's gain over the plain student (same folds, same initial weights, same
data) against the labels and against the latent valence.

Design (fixed before any run)
-----------------------------
- Data: the ``book`` preset (8 subjects x 4 trials); protocol LOSO (8 folds);
  the experiment of ``emokd.core.config.experiment_config(preset, "loso", seed)`` unchanged:
  frozen pretrained face backbone, TCN teacher and students, ``kd_weight`` 1
  (the paper's), L1 feature loss. No weight or setting is chosen on test scores.
- Annotation noise ``annotation_noise_sd`` in {0, 0.5, 1, 2} valence SDs (one
  rater, no lag, drift time constant 5 s, the generator's default), with no
  face-only content. H3's levels: ``face_private_sd`` 1 (a face-only expression
  drift of one valence SD, time constant 10 s) at noise 1, against the noise-1
  run without it.
- Seeds 0, 1, 2: seed s generates the data (``synth --seed s``) and seeds the
  partitions and training (``run --seed s``). For one seed every condition has
  the same latent valence, EEG and folds: the annotation and the face-only
  content have random streams of their own, so a condition changes only what it
  names.
- Unit of pairing: the fold x seed (8 x 3 = 24 units per condition). In a unit
  the KD student and the student share the test subject, the training data and
  the initial weights, so their difference is paired; across conditions a unit
  keeps its test subject, latent, EEG and seeds, so differences between
  conditions are paired too. Folds of one seed share training subjects, so they
  are not fully independent and the fold x seed intervals are optimistic; the
  seed-level means (3 units) are reported beside them.
- Score: CCC of the concatenated test traces of a fold (the paper's), against
  the labels and against the latent valence; per-trial CCC reported too.
  95 % t-interval of the mean difference, paired t-test and Wilcoxon
  signed-rank test (:func:`emokd.evaluation.stats.paired_tests`).

Hypotheses (stated before any run; reported whatever comes out)
---------------------------------------------------------------
- **H1** -- with exact labels (noise 0) the KD gain is indistinguishable from
  zero: the teacher can hand the student nothing the labels do not already
  state. Supported if the 95 % CI of mean(KD - student) CCC against the labels
  at noise 0 (fold x seed units) contains 0.
- **H2** -- the KD gain grows with annotation noise: a face teacher trained on
  noisy labels averages the noise away and tracks the expression, i.e. the
  latent state, so its features become a cleaner target than the labels
  (learning with privileged information, Vapnik and Vashist 2009; generalised
  distillation, Lopez-Paz et al. 2016). Test: per unit, the least-squares slope
  of (KD - student) CCC against the latent valence over the four noise levels;
  supported if the 95 % CI of the mean slope lies above 0. The same slope
  against the labels is reported as secondary.
- **H3** -- face-only content lowers the KD gain: when part of what the teacher
  sees and encodes is specific to the face (an expression drift unrelated to
  valence that the EEG does not carry), its features hold knowledge the EEG
  student cannot reproduce (the modality focusing hypothesis, Xue et al. 2023).
  Test: per unit at noise 1, (KD - student CCC against the latent with face-only
  content 1) - (the same without it); supported if its 95 % CI lies below 0.

Run (one command; resumes from emokd-runs/kd-study/ if interrupted)::

    python studies/bench_kd_study.py            # book preset, seeds 0 1 2
    python studies/bench_kd_study.py --preset smoke --seeds 0 --noise 0 1 --out /tmp/kd-smoke
    python studies/bench_kd_study.py --list          # the runs in their order, done or to run

Writes ``results/kd-study/results.json``, ``results.md`` and ``kd_gain.png``
(``--out`` elsewhere); the data and run folders stay under ``--work``
(default ``emokd-runs/kd-study``, not committed), and a rerun reuses every
finished run.

Added after the study ran (2026-12-03): the book preset's training has changed
since (epochs of a third of the windows, other early stops); :func:`study_config`
keeps the training the study ran with (:func:`emokd.core.config.book_full_pass_schedule`) so
that a rerun reproduces the committed results.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

from emokd.core.fileio import atomic_path, write_json, write_text

REPO = Path(__file__).resolve().parent.parent
MODELS = ("teacher", "student", "student_kd")
TARGETS = ("labels", "latent")


def condition_name(noise: float, private: float) -> str:
    return f"noise{noise:g}_private{private:g}"


def run_order(noise_levels, private_levels, h3_noise: float) -> list[tuple[float, float]]:
    """The conditions of one seed, ``(noise, private)``, in the order they run.

    The most informative first, so that a study stopped part-way holds the contrasts that need
    the fewest runs: exact labels (H1), the highest noise (H2's extremes), H3's noise level and
    its face-only levels, then the remaining noise levels.
    """
    first = [noise_levels[0], noise_levels[-1], h3_noise]
    order = [(n, 0.0) for n in dict.fromkeys(first)]
    order += [(h3_noise, p) for p in private_levels if p > 0]
    order += [(n, 0.0) for n in noise_levels if (n, 0.0) not in order]
    return order


def run_condition(work: Path, preset: str, seed: int, noise: float, private: float, n_jobs: int,
                  backend: str | None = None) -> dict:
    """Generate, prepare and run one (seed, noise, face-only content) condition; its results.json.
    ``backend="dask"``: the folds run on the Dask client of :func:`emokd.evaluation.cluster.scheduler_client`."""
    from emokd.core.config import synth_config
    from emokd.evaluation.experiment import run_experiment
    from emokd.io.prepare import prepare_dataset
    from emokd.synth.synthetic import ensure_generated

    name = f"{condition_name(noise, private)}_seed{seed}"
    data = work / "data" / name
    ensure_generated(data, synth_config(preset, annotation_noise_sd=noise, face_private_sd=private), seed=seed,
                     progress=False)
    prepare_dataset(data, progress=False)
    return run_experiment((data / "prepared").resolve(), study_config(preset, seed), (work / "runs" / name).resolve(),
                          n_jobs=n_jobs, backend=backend, progress=False)


def study_config(preset: str, seed: int):
    """The study's experiment: ``experiment_config(preset, "loso", seed)`` as it was when the study ran,
    i.e. with the book preset's training of then (:func:`emokd.core.config.book_full_pass_schedule`: full-pass
    epochs, the students' early stop 8), so that a rerun reproduces the committed results."""
    from emokd.core.config import book_full_pass_schedule, experiment_config

    cfg = experiment_config(preset, "loso", seed=seed)
    return book_full_pass_schedule(cfg) if preset == "book" else cfg


def fold_scores(res: dict, seed: int) -> list[dict]:
    """One row per fold: CCC (concatenated and per trial) of each model against the labels and the latent."""
    rows = []
    for f in res["folds"]:
        row = {"seed": seed, "fold": f["fold"], "test_subjects": f["test"]["subjects"]}
        for target, field in (("labels", "metrics"), ("latent", "metrics_latent")):
            for m in MODELS:
                for scheme in ("concatenated", "per_trial"):
                    row[f"{m}_{target}_{scheme}"] = f[field][m][scheme]["ccc"]
                row[f"{m}_{target}_pcc"] = f[field][m]["concatenated"]["pcc"]
            row[f"ref_ridge_student_{target}_concatenated"] = f[field]["ref_ridge_student"]["concatenated"]["ccc"]
        row["teacher_best_epoch"] = f["best_epoch"]["teacher"]
        rows.append(row)
    return rows


def _interval(values) -> dict:
    """Mean, SD, 95 % t-interval and one-sample tests of ``values`` against 0 (paired_tests vs zeros)."""
    from emokd.evaluation.stats import paired_tests

    v = np.asarray(values, dtype=float)
    t = paired_tests(v, np.zeros_like(v), names=("diff", "zero"))
    return {"mean": t["mean_diff"], "sd": t["sd_diff"], "ci95": t["ci95"], "n": t["n_folds"],
            "n_positive": t["n_better"], "t_test_p": t["t_test_p"], "wilcoxon_p": t["wilcoxon_p"],
            "note": t["note"]}


def analyse(rows: dict, noise_levels, private_levels, h3_noise: float, seeds) -> dict:
    """Per condition the KD - student differences, H2's slopes and H3's contrasts (see the docstring)."""
    def diffs(cond, target, scheme="concatenated"):
        return np.array([r[f"student_kd_{target}_{scheme}"] - r[f"student_{target}_{scheme}"] for r in rows[cond]])

    def seed_means(cond, values):
        s = np.array([r["seed"] for r in rows[cond]])
        return [float(values[s == k].mean()) for k in seeds]

    conditions = {}
    for cond in rows:
        c = {"n_units": len(rows[cond])}
        for target in TARGETS:
            d = diffs(cond, target)
            c[f"kd_gain_{target}"] = _interval(d)
            c[f"kd_gain_{target}_seed_level"] = _interval(seed_means(cond, d))
            c[f"kd_gain_{target}_per_trial"] = _interval(diffs(cond, target, "per_trial"))
            for m in MODELS:
                c[f"{m}_ccc_{target}"] = float(np.mean([r[f"{m}_{target}_concatenated"] for r in rows[cond]]))
                c[f"{m}_ccc_{target}_per_trial"] = float(np.mean([r[f"{m}_{target}_per_trial"] for r in rows[cond]]))
        # diagnostics, added after the first runs to ask why a gain appears or not:
        # descriptive only, no verdict uses them
        rs = rows[cond]
        c["diagnostics"] = {
            "teacher_pcc_latent": float(np.mean([r["teacher_latent_pcc"] for r in rs])),
            "student_pcc_latent": float(np.mean([r["student_latent_pcc"] for r in rs])),
            "ridge_student_ccc_latent": float(np.mean([r["ref_ridge_student_latent_concatenated"] for r in rs])),
            "teacher_best_epoch_mean": float(np.mean([r["teacher_best_epoch"] for r in rs])),
            # a teacher whose CCC against the labels stays near 0: the CCC-loss trap (predictions swinging wide)
            "teacher_failed_units": int(sum(r["teacher_labels_concatenated"] < 0.05 for r in rs)),
        }
        conditions[cond] = c
    out = {"conditions": conditions}

    base = [condition_name(n, 0.0) for n in noise_levels]
    if len(noise_levels) >= 2 and all(b in rows for b in base):
        x = np.asarray(noise_levels, dtype=float)
        h2 = {}
        for target in TARGETS:
            d = np.stack([diffs(b, target) for b in base], axis=1)  # (n_units, n_levels), units in the same order
            slopes = np.polyfit(x, d.T, 1)[0]  # (n_units,) per unit: the least-squares slope over the levels
            h2[f"slope_{target}"] = _interval(slopes)
            h2[f"slope_{target}_seed_level"] = _interval(seed_means(base[0], slopes))
        out["h2"] = h2
    h3 = {}
    ref = condition_name(h3_noise, 0.0)
    for p in private_levels:
        cond = condition_name(h3_noise, p)
        if p == 0 or cond not in rows or ref not in rows:
            continue
        h3[cond] = {}
        for target in TARGETS:
            contrast = diffs(cond, target) - diffs(ref, target)
            h3[cond][f"contrast_{target}"] = _interval(contrast)
            h3[cond][f"contrast_{target}_seed_level"] = _interval(seed_means(cond, contrast))
    out["h3"] = h3
    return out


def _ci_excludes(iv: dict, side: str) -> bool:
    lo, hi = iv["ci95"]
    return bool(hi < 0) if side == "below" else bool(lo > 0)


def verdicts(an: dict, noise_levels, h3_noise: float) -> dict:
    out = {}
    c0 = an["conditions"].get(condition_name(noise_levels[0], 0.0)) if noise_levels[0] == 0 else None
    if c0:
        iv = c0["kd_gain_labels"]
        out["H1"] = {"supported": bool(iv["ci95"][0] <= 0 <= iv["ci95"][1]), "kd_gain_labels": iv}
    if "h2" in an:
        iv = an["h2"]["slope_latent"]
        out["H2"] = {"supported": _ci_excludes(iv, "above"), "slope_latent": iv,
                     "slope_labels": an["h2"]["slope_labels"]}
    for cond, h in an["h3"].items():
        iv = h["contrast_latent"]
        out.setdefault("H3", {})[cond] = {"supported": _ci_excludes(iv, "below"), "contrast_latent": iv,
                                           "contrast_labels": h["contrast_labels"]}
    return out


def _fmt(iv: dict) -> str:
    lo, hi = iv["ci95"]
    return f"{iv['mean']:+.3f} [{lo:+.3f}, {hi:+.3f}]"


def _p(x: float) -> str:
    return "nan" if x != x else f"{x:.3g}"


def markdown(study: dict) -> str:
    an, lines = study["analysis"], []
    lines += [f"# KD study results ({study['preset']} preset, LOSO, seeds {study['seeds']})", ""]
    if study.get("missing_runs"):
        lines += [f"**Partial study**: {len(study['missing_runs'])} runs not finished yet "
                  f"({', '.join(study['missing_runs'])}); only the seeds with every condition are analysed. "
                  "Rerun `python studies/bench_kd_study.py` to finish it.", ""]
    lines += [
              f"Command: `{study['command']}` (this command: {study['runtime_s'] / 60:.1f} min; the runs' own "
              f"runtimes sum to {study['runs_runtime_s'] / 60:.1f} min, listed at the end).", "",
              "KD - student difference in concatenated CCC, mean [95 % CI] over fold x seed units "
              f"(n = {next(iter(an['conditions'].values()))['n_units']}), paired t-test and Wilcoxon p; "
              "then the mean CCC of each model.", "",
              "| condition | KD gain vs labels | p (t / W) | KD gain vs latent | p (t / W) | seed-level gain vs latent "
              "| teacher labels / latent | student labels / latent | KD labels / latent |",
              "|---|---|---|---|---|---|---|---|---|"]
    for cond, c in an["conditions"].items():
        gl, gz = c["kd_gain_labels"], c["kd_gain_latent"]
        lines.append(f"| {cond} | {_fmt(gl)} | {_p(gl['t_test_p'])} / {_p(gl['wilcoxon_p'])} | {_fmt(gz)} | "
                     f"{_p(gz['t_test_p'])} / {_p(gz['wilcoxon_p'])} | {_fmt(c['kd_gain_latent_seed_level'])} | "
                     + " | ".join(f"{c[f'{m}_ccc_labels']:.3f} / {c[f'{m}_ccc_latent']:.3f}" for m in MODELS) + " |")
    lines += ["", "Per-trial CCC (each test trial scored on its own, then averaged): KD gain vs labels / vs latent", "",
              "| condition | KD gain vs labels (per trial) | KD gain vs latent (per trial) | teacher | student | KD |",
              "|---|---|---|---|---|---|"]
    for cond, c in an["conditions"].items():
        lines.append(f"| {cond} | {_fmt(c['kd_gain_labels_per_trial'])} | {_fmt(c['kd_gain_latent_per_trial'])} | "
                     + " | ".join(f"{c[f'{m}_ccc_labels_per_trial']:.3f} / {c[f'{m}_ccc_latent_per_trial']:.3f}"
                                  for m in MODELS) + " |")
    lines += ["", "Diagnostics (descriptive, added after the first runs; no verdict uses them): teacher and "
              "student PCC against the latent (shape, not scale), the ridge regression on the student's inputs "
              "against the latent (a linear reference), the teacher's mean best epoch, and units whose teacher "
              "failed (CCC against the labels < 0.05)", "",
              "| condition | teacher PCC / CCC vs latent | student PCC / CCC vs latent | ridge student CCC vs latent "
              "| teacher best epoch | teacher failed |", "|---|---|---|---|---|---|"]
    for cond, c in an["conditions"].items():
        d = c["diagnostics"]
        lines.append(f"| {cond} | {d['teacher_pcc_latent']:.3f} / {c['teacher_ccc_latent']:.3f} | "
                     f"{d['student_pcc_latent']:.3f} / {c['student_ccc_latent']:.3f} | "
                     f"{d['ridge_student_ccc_latent']:.3f} | {d['teacher_best_epoch_mean']:.1f} | "
                     f"{d['teacher_failed_units']} of {c['n_units']} |")
    lines += ["", "## Verdicts", ""]
    v = study["verdicts"]
    if "H1" in v:
        lines.append(f"- **H1** (exact labels: KD gain indistinguishable from 0): "
                     f"{'supported' if v['H1']['supported'] else 'NOT supported'}; gain vs labels at noise 0 "
                     f"{_fmt(v['H1']['kd_gain_labels'])}, t-test p {_p(v['H1']['kd_gain_labels']['t_test_p'])}.")
    if "H2" in v:
        h = v["H2"]
        lines.append(f"- **H2** (KD gain grows with annotation noise): "
                     f"{'supported' if h['supported'] else 'NOT supported'}; slope of the gain vs latent "
                     f"{_fmt(h['slope_latent'])} CCC per valence SD of noise (p {_p(h['slope_latent']['t_test_p'])}); "
                     f"vs labels {_fmt(h['slope_labels'])} (p {_p(h['slope_labels']['t_test_p'])}).")
    for cond, h in v.get("H3", {}).items():
        lines.append(f"- **H3** (face-only content lowers the KD gain; {cond} vs private 0): "
                     f"{'supported' if h['supported'] else 'NOT supported'}; change of the gain vs latent "
                     f"{_fmt(h['contrast_latent'])} (p {_p(h['contrast_latent']['t_test_p'])}); vs labels "
                     f"{_fmt(h['contrast_labels'])}.")
    lines += ["", "Runs (seconds each, from each run's results.json):", ""]
    lines += [f"- {name}: {s:.0f} s" for name, s in study["run_seconds"].items()]
    return "\n".join(lines) + "\n"


def figure(study: dict, path: Path, noise_levels, h3_noise: float, private_levels) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    an = study["analysis"]["conditions"]
    from emokd.core import style

    # two rows, readable at the book's page width (chapter 05b shows this file); the models in their colours
    fig, axes = plt.subplots(2, 1, figsize=(style.PAGE_WIDTH_IN, 7.2), layout="constrained")
    x = np.asarray(noise_levels, float)
    for target, colour, dx in (("labels", style.model_colour("labels"), -0.03), ("latent", "0.55", 0.03)):
        ivs = [an[condition_name(n, 0.0)][f"kd_gain_{target}"] for n in noise_levels]
        m = np.array([iv["mean"] for iv in ivs])
        err = np.array([[iv["mean"] - iv["ci95"][0], iv["ci95"][1] - iv["mean"]] for iv in ivs]).T
        axes[0].errorbar(x + dx, m, yerr=err, fmt="o-", color=colour, capsize=3, label=f"against the {target}")
        for p in private_levels:
            cond = condition_name(h3_noise, p)
            if p and cond in an:
                iv = an[cond][f"kd_gain_{target}"]
                axes[0].errorbar([h3_noise + dx + 0.12], [iv["mean"]], fmt="s", color=colour, capsize=3, mfc="white",
                                 yerr=[[iv["mean"] - iv["ci95"][0]], [iv["ci95"][1] - iv["mean"]]],
                                 label=f"face-only content {p:g} ({target})")
    axes[0].axhline(0, color="grey", lw=0.8)
    axes[0].set(xlabel="annotation noise (valence SDs)", ylabel="KD - student CCC (95 % CI)",
                title="KD gain, mean over fold x seed units")
    axes[0].legend(fontsize="small")
    for m, colour in zip(MODELS, (style.model_colour(m) for m in MODELS)):
        for target, ls in (("labels", "--"), ("latent", "-")):
            axes[1].plot(x, [an[condition_name(n, 0.0)][f"{m}_ccc_{target}"] for n in noise_levels], ls, marker="o",
                         color=colour, label=f"{m} vs {target}")
    axes[1].set(xlabel="annotation noise (valence SDs)", ylabel="mean CCC (concatenated)",
                title="each model against the labels (--) and the latent (-)")
    axes[1].legend(fontsize="small", ncol=2)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=style.DPI, format="png")
    plt.close(fig)


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="book", choices=("smoke", "book", "paper"))
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--noise", type=float, nargs="+", default=[0.0, 0.5, 1.0, 2.0],
                    help="annotation noise levels (valence SDs); the first must be 0 for H1")
    ap.add_argument("--private", type=float, nargs="+", default=[1.0], help="H3: face-only content levels (> 0)")
    ap.add_argument("--h3-noise", type=float, default=1.0, help="the noise level of H3's contrast")
    ap.add_argument("--n-jobs", type=int, default=2)
    ap.add_argument("--scheduler", metavar="ADDRESS|FILE",
                    help="run every condition's folds on this Dask cluster (its scheduler's address or file; with "
                         "--n-jobs -1 as many at once as it runs); the workers must see --work")
    ap.add_argument("--work", type=Path, default=REPO / "emokd-runs" / "kd-study", help="data and run folders")
    ap.add_argument("--out", type=Path, default=REPO / "results" / "kd-study", help="where results go")
    ap.add_argument("--no-run", action="store_true",
                    help="train nothing: analyse the finished runs under --work only (a partial study says so)")
    ap.add_argument("--list", action="store_true",
                    help="train and write nothing: print each seed's experiment configuration (JSON) and its runs "
                         "in the order they run, each done or to run")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    if args.h3_noise not in args.noise:
        sys.exit(f"--h3-noise {args.h3_noise:g} must be one of --noise {args.noise}")
    conditions = run_order(args.noise, args.private, args.h3_noise)
    if args.list:
        for seed in args.seeds:
            print(f"seed {seed} config {json.dumps(study_config(args.preset, seed).to_json())}")
            for noise, private in conditions:
                name = f"{condition_name(noise, private)}_seed{seed}"
                print(name, "done" if (args.work / "runs" / name / "results.json").is_file() else "to run")
        return {}
    t0 = time.perf_counter()
    shown = [(n, 0.0) for n in args.noise] + [c for c in conditions if c[1] > 0]  # tables: by noise, then H3
    rows, run_seconds, missing = {condition_name(*c): [] for c in shown}, {}, []
    cluster = contextlib.ExitStack()  # with --scheduler: the Dask client, for the whole study
    if args.scheduler and not args.no_run:
        from emokd.evaluation.cluster import scheduler_client

        args.work.mkdir(parents=True, exist_ok=True)
        cluster.enter_context(scheduler_client(args.scheduler, write=[args.work.resolve()]))
    with cluster:
        for seed in args.seeds:  # seed-major: an interrupted study has whole seeds of every condition
            for noise, private in conditions:
                name = condition_name(noise, private)
                done = args.work / "runs" / f"{name}_seed{seed}" / "results.json"
                if args.no_run:
                    if not done.is_file():
                        missing.append(f"{name}_seed{seed}")
                        continue
                    res = json.loads(done.read_text())
                else:
                    logging.info("condition %s, seed %d", name, seed)
                    res = run_condition(args.work, args.preset, seed, noise, private, args.n_jobs,
                                        backend="dask" if args.scheduler else None)
                rows[name] += fold_scores(res, seed)
                run_seconds[f"{name}_seed{seed}"] = res["runtime_s"]
    if missing:  # analyse whole seeds only, so every analysed condition has the same fold x seed units
        finished = {name for name in run_seconds}
        first = condition_name(*conditions[0])
        args.seeds = [s for s in args.seeds if f"{first}_seed{s}" in finished]
        if not args.seeds:
            sys.exit(f"no seed has finished its first condition; missing: {', '.join(missing)}")
        rows = {c: [r for r in rs if r["seed"] in args.seeds] for c, rs in rows.items()
                if all(f"{c}_seed{s}" in finished for s in args.seeds)}
        args.noise = [n for n in args.noise if condition_name(n, 0.0) in rows]
        logging.warning("partial study: %d runs missing (%s); analysing seeds %s, conditions %s", len(missing),
                        ", ".join(missing), args.seeds, ", ".join(rows))
    analysis = analyse(rows, args.noise, args.private, args.h3_noise, args.seeds)
    cmd = "python studies/bench_kd_study.py" + ("" if argv is None and len(sys.argv) == 1 else
                                                    " " + " ".join(argv if argv is not None else sys.argv[1:]))
    study = {"preset": args.preset, "protocol": "loso", "seeds": args.seeds, "noise_levels": args.noise,
             "private_levels": args.private, "h3_noise": args.h3_noise, "kd_weight": 1.0,
             "unit_of_pairing": "fold x seed", "command": cmd,
             "runtime_s": round(time.perf_counter() - t0, 1), "runs_runtime_s": round(sum(run_seconds.values()), 1),
             "run_seconds": run_seconds, "n_jobs": args.n_jobs, "cpu_count": os.cpu_count(),
             "python": platform.python_version(), "analysis": analysis,
             "verdicts": verdicts(analysis, args.noise, args.h3_noise), "folds": rows,
             "missing_runs": missing, "complete": not missing}
    args.out.mkdir(parents=True, exist_ok=True)
    write_json(args.out / "results.json", study)
    write_text(args.out / "results.md", markdown(study))
    figure(study, args.out / "kd_gain.png", args.noise, args.h3_noise, args.private)
    print(markdown(study))
    return study


if __name__ == "__main__":
    main()
