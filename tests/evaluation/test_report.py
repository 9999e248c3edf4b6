"""Report from a fake run folder: tables against numbers computed here, files, figures."""

import csv
import json
import logging

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pytest
from scipy import stats as sp_stats

from emokd.evaluation import report
from emokd.errors import EmokdError

matplotlib.use("Agg")  # tests only (pyplot allows switching before any figure): the package never picks one

MODELS = ["teacher", "student", "student_kd", "student_kd_w0.5"]
SCHEMES = ["concatenated", "per_trial"]
N_FOLDS = 3
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
STORED_TESTS = {"student_kd_vs_student": {
    "metric": "ccc (concatenated)", "t_test_p": 0.0123, "wilcoxon_p": 0.25, "effect_size": 1.5,
    "n_folds": 3, "n_better": 3, "names": ["student_kd", "student"], "note": ""}}


def _metrics():
    """Chosen metric values: metrics[fold][model][scheme][metric] (4 decimals)."""
    rng = np.random.default_rng(7)
    out = []
    for _ in range(N_FOLDS):
        out.append({m: {s: {"rmse": round(float(rng.uniform(0.1, 0.3)), 4),
                            "pcc": round(float(rng.uniform(0.2, 0.8)), 4),
                            "ccc": round(float(rng.uniform(0.1, 0.7)), 4)} for s in SCHEMES}
                    for m in MODELS})
    return out


def _summary(metrics, scheme):
    return {m: {k: {"mean": float(np.mean(v)), "sd": float(np.std(v, ddof=1)), "n": len(v)}
                for k in ("ccc", "pcc", "rmse")
                for v in [[f[m][scheme][k] for f in metrics]]} for m in MODELS}


def _make_run(run_dir, *, tests=True):
    metrics = _metrics()
    folds = []
    for i in range(N_FOLDS):
        rel = f"folds/fold_{i:02d}/predictions.npz"
        (run_dir / rel).parent.mkdir(parents=True)
        arrays = {}
        for j, n_steps in enumerate((40, 53)):
            key = f"P{i + 2:02d}_T{j + 1:02d}"
            t = np.arange(n_steps) / 4.0
            arrays[f"{key}__true"] = np.sin(t / 3).astype(np.float32)
            for k, m in enumerate(MODELS):
                arrays[f"{key}__{m}"] = (np.sin(t / 3) * 0.8 + 0.05 * k).astype(np.float32)
        np.savez(run_dir / rel, **arrays)
        folds.append({"fold": i, "train": {"subjects": [9]}, "validation": {"subjects": [8]},
                      "test": {"subjects": [i + 2], "trials": [f"P{i + 2:02d}_T01", f"P{i + 2:02d}_T02"]},
                      "metrics": metrics[i], "predictions": rel})
    results = {"format": "emokd-results/1", "protocol": "loso", "preset": "smoke", "seed": 0,
               "models": MODELS, "folds": folds, "summary": _summary(metrics, "concatenated"),
               "summary_per_trial": _summary(metrics, "per_trial"), "runtime_s": 1.5,
               "extra_key": {"ignored": True}}
    if tests:
        results["tests"] = STORED_TESTS
    (run_dir / "results.json").write_text(json.dumps(results))
    return metrics


@pytest.fixture
def run(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    return run_dir, _make_run(run_dir)


def _ms(values):
    return f"{np.mean(values):.3f} ± {np.std(values, ddof=1):.3f}"


def test_markdown_has_mean_sd_per_model_and_tests(run):
    run_dir, metrics = run
    md = report.markdown_table(report.load_results(run_dir))
    for m in MODELS:
        cells = [_ms([f[m][s][k] for f in metrics]) for s in SCHEMES for k in ("ccc", "pcc", "rmse")]
        assert f"| {m} | " + " | ".join(cells) + " |" in md
    assert ("t-test p = 0.0123, Wilcoxon p = 0.25, d_z = 1.50; student_kd better on 3 of 3 folds"
            in md)
    assert "Paired test, student_kd vs student, CCC (concatenated), 3 folds: t-test" in md


def test_tests_computed_when_not_stored(tmp_path):
    _make_run(tmp_path, tests=False)
    results = report.load_results(tmp_path)
    a = [f["metrics"]["student_kd"]["concatenated"]["ccc"] for f in results["folds"]]
    b = [f["metrics"]["student"]["concatenated"]["ccc"] for f in results["folds"]]
    p = sp_stats.ttest_rel(a, b).pvalue
    md = report.markdown_table(results)
    assert f"student_kd vs student, CCC (concatenated), 3 folds: t-test p = {p:.3g}" in md


def test_results_table_rows(run):
    run_dir, metrics = run
    rows = report.results_table(report.load_results(run_dir), per_trial=True)
    assert len(rows) == len(MODELS) * 3
    row = next(r for r in rows if r["model"] == "student_kd_w0.5" and r["metric"] == "pcc")
    values = [f["student_kd_w0.5"]["per_trial"]["pcc"] for f in metrics]
    assert row["scheme"] == "per_trial" and row["n"] == 3
    assert row["mean"] == pytest.approx(np.mean(values)) and row["sd"] == pytest.approx(np.std(values, ddof=1))


def test_stored_summary_mismatch_is_logged(run, caplog):
    run_dir, _ = run
    results = report.load_results(run_dir)
    results["summary"]["teacher"]["ccc"]["mean"] += 0.1
    with caplog.at_level(logging.WARNING, logger="emokd.evaluation.report"):
        report.results_table(results)
    assert "teacher.ccc" in caplog.text


def test_csv_parses_back_to_fold_values(run, tmp_path):
    run_dir, metrics = run
    path = report.write_csv(report.load_results(run_dir), tmp_path / "out.csv")
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["fold", "model", "scheme", "rmse", "pcc", "ccc"]
    per_fold = [r for r in rows if r["fold"].isdigit()]
    assert len(per_fold) == N_FOLDS * len(MODELS) * 2
    for r in per_fold:
        expected = metrics[int(r["fold"])][r["model"]][r["scheme"]]
        assert {k: float(r[k]) for k in ("rmse", "pcc", "ccc")} == expected
    means = [r for r in rows if r["fold"] == "mean"]
    sds = [r for r in rows if r["fold"] == "sd"]
    assert len(means) == len(sds) == len(MODELS) * 2
    r = next(r for r in sds if r["model"] == "student" and r["scheme"] == "concatenated")
    assert float(r["rmse"]) == pytest.approx(np.std([f["student"]["concatenated"]["rmse"] for f in metrics], ddof=1))


@pytest.mark.slow
def test_write_report_files(run):
    run_dir, _ = run
    open_before = plt.get_fignums()
    paths = report.write_report(run_dir)
    assert set(paths) == {"markdown", "csv", "fold_ccc"} | {f"predictions_fold_{i:02d}" for i in range(N_FOLDS)}
    assert paths["markdown"] == run_dir / "results.md" and paths["csv"] == run_dir / "results.csv"
    for name, path in paths.items():
        assert path.is_file(), name
        if path.suffix == ".png":
            data = path.read_bytes()
            assert data[:8] == PNG_MAGIC and len(data) > 1000, name
            assert path.parent == run_dir / "figures"
    md = paths["markdown"].read_text(encoding="utf-8")
    assert "](figures/fold_ccc.png)" in md and "](figures/predictions_fold_02.png)" in md
    assert not list(run_dir.rglob("*.tmp"))
    assert plt.get_fignums() == open_before  # every figure closed
    report.write_report(run_dir)  # rewriting over existing files works
    assert not list(run_dir.rglob("*.tmp"))


def test_plot_predictions_time_axis_in_seconds():
    n = 37
    true = np.linspace(-1, 1, n)
    fig, ax = plt.subplots()
    try:
        report.plot_predictions(true, {"student": true * 0.5}, ax=ax, title="P01_T01")
        assert len(ax.lines) == 2
        for line in ax.lines:
            x = line.get_xdata()
            assert x[0] == 0.0 and x[-1] == pytest.approx((n - 1) / 4)
        assert "(s)" in ax.get_xlabel() and ax.get_title() == "P01_T01"
        with pytest.raises(EmokdError, match="student"):
            report.plot_predictions(true, {"student": true[:-1]}, ax=ax)
        with pytest.raises(EmokdError, match="rate_hz"):
            report.plot_predictions(true, {}, ax=ax, rate_hz=0)
    finally:
        plt.close(fig)


def test_load_predictions_and_fold_figure(run):
    run_dir, _ = run
    preds = report.load_predictions(run_dir, 1)
    assert list(preds) == ["P03_T01", "P03_T02"]
    assert set(preds["P03_T02"]) == {"true", *MODELS}
    assert preds["P03_T02"]["student_kd"].shape == (53,) and preds["P03_T02"]["true"].dtype == np.float32
    fig = report.plot_fold_predictions(run_dir, 1, max_trials=1)
    try:
        visible = [ax for ax in fig.axes if ax.get_visible()]
        assert len(visible) == 1 and len(visible[0].lines) == 1 + len(MODELS)
    finally:
        plt.close(fig)
    with pytest.raises(EmokdError, match="no fold 7"):
        report.load_predictions(run_dir, 7)


def test_missing_or_bad_results_name_the_path(tmp_path):
    path = tmp_path / "results.json"
    with pytest.raises(EmokdError, match=str(path)):
        report.load_results(tmp_path)
    path.write_text("{not json")
    with pytest.raises(EmokdError, match="not valid JSON") as err:
        report.load_results(tmp_path)
    assert str(path) in str(err.value)
    path.write_text(json.dumps({"format": "emokd-results/0", "models": [], "folds": []}))
    with pytest.raises(EmokdError, match="format") as err:
        report.write_report(tmp_path)
    assert str(path) in str(err.value)


def test_missing_metric_and_predictions_are_named(run):
    run_dir, _ = run
    path = run_dir / "results.json"
    results = json.loads(path.read_text())
    del results["folds"][1]["metrics"]["student_kd"]["per_trial"]["ccc"]
    path.write_text(json.dumps(results))
    with pytest.raises(EmokdError, match=r"folds\[1\]\.metrics\.student_kd\.per_trial\.ccc"):
        report.load_results(run_dir)
    results["folds"][1]["metrics"]["student_kd"]["per_trial"]["ccc"] = 0.5
    path.write_text(json.dumps(results))
    (run_dir / "folds/fold_02/predictions.npz").unlink()
    with pytest.raises(EmokdError, match="fold_02/predictions.npz"):
        report.write_report(run_dir)
    assert not list(run_dir.rglob("*.tmp")) and not (run_dir / "results.md").exists()


@pytest.mark.slow
def test_report_into_another_runs_folder_is_refused(run, tmp_path):
    run_dir, _ = run
    other = tmp_path / "other"
    other.mkdir()
    _make_run(other)
    (other / "results.md").write_text("the other run's report")
    before = {p.name: p.read_bytes() for p in other.rglob("*") if p.is_file()}
    with pytest.raises(EmokdError, match=r"other: another run's folder \(it holds results.json\); writing .*run's "
                                         r"outputs there would mix the two runs"):
        report.write_report(run_dir, other)
    assert {p.name: p.read_bytes() for p in other.rglob("*") if p.is_file()} == before
    assert not (other / "figures").exists()
    assert report.write_report(run_dir, run_dir)["markdown"] == run_dir / "results.md"  # its own folder: fine
    assert report.write_report(run_dir, tmp_path / "new")["markdown"].is_file()  # a new one too


def test_a_summary_that_is_not_a_table_is_one_line(run, capsys):
    from emokd.__main__ import main

    run_dir, _ = run
    results = json.loads((run_dir / "results.json").read_text())
    results["summary"] = "0.3 +- 0.1"
    (run_dir / "results.json").write_text(json.dumps(results))
    assert main(["report", str(run_dir)]) == 2
    assert capsys.readouterr().err.strip() == (f"emokd report: error: {run_dir / 'results.json'}: 'summary' must "
                                               "be an object (model -> metric -> mean, sd, n), got '0.3 +- 0.1'")


def test_the_regime_is_said_in_one_line():
    from emokd.evaluation.report import regime_line

    folds = [{"train": {"trials": ["a", "b"]}, "unlabelled": {"trials": ["c", "d", "e", "f"]}},
             {"train": {"trials": ["a", "b"]}}]
    assert regime_line({"config": {}, "folds": folds}) == ""
    line = regime_line({"config": {"labelled_fraction": 0.25, "calibration": 0.5, "handover": ["output", "self"]},
                        "folds": folds, "left_out_folds": {"16": "too few"}})
    assert line.startswith("Regime: labels read for a share 0.25") and "0.50 of all training trials" in line
    assert "1 subject(s) with too few trials left out" in line and line.endswith("output, self.")


def test_the_controls_are_said_in_one_line():
    from emokd.evaluation.report import controls_line

    assert controls_line({"config": {}}) == ""
    assert controls_line({"config": {"eeg_bands": [], "permute_labels": None}}) == ""
    line = controls_line({"config": {"eeg_bands": ["beta", "gamma"], "drop_channels": ["Fp1", "T8"],
                                     "student": {"n_inputs": 60}, "permute_labels": 7}})
    assert line == ("Controls: the student and ref_ridge_student read the bands beta, gamma without the channels "
                    "Fp1, T8 (60 features); labels permuted among each subject's trials (seed 7): every model, "
                    "reference and score read the permuted labels, so the scores are a chance level.")
    assert controls_line({"config": {"drop_channels": ["O2"]}}) == ("Controls: the student and ref_ridge_student read "
                                                                    "every band without the channels O2.")
