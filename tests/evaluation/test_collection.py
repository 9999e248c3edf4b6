"""emokd.evaluation.collection: configurations read from results.json, grouped, summarised and compared."""

import json
import statistics

import matplotlib
import numpy as np
import pandas as pd
import pytest

from emokd.evaluation import collection
from emokd.core.config import experiment_config
from emokd.errors import EmokdError
from emokd.core.metrics import METRICS
from emokd.training.runs import FORMAT, SCHEMES

matplotlib.use("Agg")


def _results(preset="book", protocol="loso", seed=0, *, scores=None, refs=("ref_zero",), **config):
    """A checked-format results dict; ``scores``: model -> per-fold concatenated CCC (per trial = half)."""
    scores = scores or {"teacher": [0.6, 0.7], "student": [0.3, 0.4], "student_kd": [0.35, 0.38]}
    models = [m for m in scores if not m.startswith("ref_")]
    refs = [r for r in refs if r not in scores] + [m for m in scores if m.startswith("ref_")]
    n = len(next(iter(scores.values())))
    cfg = experiment_config(preset, protocol, seed).to_json() | config

    def metrics(i):
        return {m: {s: {k: (scores.get(m, [0.0] * n)[i] * (1 if s == "concatenated" else 0.5) if k == "ccc" else 0.1)
                        for k in METRICS} for s in SCHEMES} for m in models + refs}

    return {"format": FORMAT, "protocol": protocol, "preset": preset, "seed": seed, "models": models,
            "references": refs, "n_folds": n, "config": cfg,
            "folds": [{"fold": i, "metrics": metrics(i)} for i in range(n)]}


def _write(folder, name, res):
    (folder / name).mkdir(parents=True)
    (folder / name / "results.json").write_text(json.dumps(res))


def test_configuration_names_come_from_the_results_not_the_folder():
    assert collection.configuration(_results("book")) == "book"
    assert collection.configuration(_results("paper")) == "paper"  # its own normalisation: none / train
    assert collection.configuration(_results("book", normalisation="subject", face_normalisation="subject")) \
        == "book_subject"
    assert collection.configuration(_results("paper", normalisation="subject", face_normalisation="subject")) \
        == "paper_subject"
    assert collection.configuration(_results("book", normalisation="none")) == "book_none-train"
    assert collection.configuration(_results("paper", kd_select=[0, 1, 3])) == "kdsel-paper"
    old = _results("book")
    for field in ("normalisation", "face_normalisation", "kd_select"):  # runs from before these fields
        del old["config"][field]
    assert collection.configuration(old) == "book"


def test_runs_are_grouped_by_configuration_and_ordered(tmp_path):
    _write(tmp_path, "zz_whatever", _results("book", "loso", 1))  # the folder name is not read
    _write(tmp_path, "loso_seed0", _results("book", "loso", 0))
    _write(tmp_path, "trs_seed0", _results("book", "trs", 0))
    _write(tmp_path, "a_paper", _results("paper", "loso", 0))
    _write(tmp_path, "b", _results("book", "loso", 0, normalisation="subject", face_normalisation="subject"))
    (tmp_path / "not_a_run").mkdir()
    runs = collection.load_runs(tmp_path)
    assert [(r.configuration, r.protocol, r.seed) for r in runs] == [
        ("book", "trs", 0), ("book", "loso", 0), ("book", "loso", 1), ("book_subject", "loso", 0),
        ("paper", "loso", 0)]
    assert runs[2].name == "zz_whatever"
    assert list(collection.groups(runs)) == [("book", "trs"), ("book", "loso"), ("book_subject", "loso"),
                                             ("paper", "loso")]


def test_runs_of_one_name_that_differ_beyond_the_seed_are_refused(tmp_path):
    _write(tmp_path, "one", _results("book", "loso", 0))
    changed = _results("book", "loso", 1)
    changed["config"]["val_fraction"] = 0.3
    _write(tmp_path, "two", changed)
    with pytest.raises(EmokdError, match="two and .*one.*differ in more than the seed"):
        collection.load_runs(tmp_path)
    (tmp_path / "two" / "results.json").write_text(json.dumps(_results("book", "loso", 0)))
    with pytest.raises(EmokdError, match="seed 0\\) twice"):
        collection.load_runs(tmp_path)
    with pytest.raises(EmokdError, match="no such folder"):
        collection.load_runs(tmp_path / "missing")


def test_summary_pools_every_seed_and_fold_as_a_plain_loop_does(tmp_path):
    a = {"teacher": [0.6, 0.7, 0.2], "student": [0.3, 0.4, 0.1], "student_kd": [0.35, 0.38, 0.0]}
    b = {"teacher": [0.5, 0.9, 0.4], "student": [0.2, 0.1, 0.5], "student_kd": [0.25, 0.3, 0.45]}
    _write(tmp_path, "s0", _results("book", "loso", 0, scores=a))
    _write(tmp_path, "s1", _results("book", "loso", 1, scores=b))
    runs = collection.load_runs(tmp_path)
    long = collection.summary(runs)
    for model in a:
        pooled = a[model] + b[model]
        for scheme, factor in (("concatenated", 1.0), ("per_trial", 0.5)):
            row = long[(long["model"] == model) & (long["scheme"] == scheme)].iloc[0]
            vals = [factor * v for v in pooled]
            assert row["mean"] == pytest.approx(statistics.fmean(vals))
            assert row["sd"] == pytest.approx(statistics.stdev(vals))
            assert (row["n"], row["seeds"], row["folds"]) == (6, "0,1", 3)
    assert set(long["model"]) == {"teacher", "student", "student_kd", "ref_zero"}
    wide = collection.summary_table(runs)
    assert wide.loc[("book", "loso", "0,1", 3), ("concatenated", "student")] == \
        f"{statistics.fmean(a['student'] + b['student']):.3f} ± {statistics.stdev(a['student'] + b['student']):.3f}"
    md = collection.markdown_summary(runs)
    assert len(md) == 3 and md[2].startswith("| book | LOSO | 0,1 | 3 |")
    assert md[0].split(" | ")[4:7] == ["teacher", "student", "student_kd"]


def test_a_model_missing_from_one_seed_is_left_out_of_its_group(tmp_path):
    _write(tmp_path, "s0", _results("book", "trs", 0, refs=("ref_zero", "ref_ridge_student")))
    _write(tmp_path, "s1", _results("book", "trs", 1))
    long = collection.summary(collection.load_runs(tmp_path))
    assert "ref_ridge_student" not in set(long["model"])


def test_kd_gains_use_the_selected_student_of_a_kdsel_run(tmp_path):
    scores = {"teacher": [0.6, 0.2], "student": [0.3, 0.4], "student_kd": [0.1, 0.1],
              "student_kd_selected": [0.5, 0.4]}
    _write(tmp_path, "k", _results("paper", "trs", 0, scores=scores, kd_select=[0, 1]))
    _write(tmp_path, "p", _results("paper", "trs", 0))
    runs = collection.load_runs(tmp_path)
    assert [r.configuration for r in runs] == ["paper", "kdsel-paper"]
    assert runs[1].kd_model == "student_kd_selected" and runs[0].kd_model == "student_kd"
    gains = collection.kd_gains(runs)
    k = gains[gains["configuration"] == "kdsel-paper"]
    np.testing.assert_allclose(k["gain"], [0.2, 0.0], atol=1e-12)
    np.testing.assert_allclose(gains[gains["configuration"] == "paper"]["gain"], [0.05, -0.02], atol=1e-12)


def test_the_figure_reports_the_spearman_correlation_of_each_panel(tmp_path):
    rng = np.random.default_rng(0)
    t, s, k = rng.uniform(0, 1, (3, 8))
    _write(tmp_path, "r", _results("book", "loso", 0, scores={"teacher": list(t), "student": list(s),
                                                              "student_kd": list(k)}))
    fig = collection.plot_kd_gains(collection.load_runs(tmp_path))
    rho = pd.Series(t).corr(pd.Series(k - s), method="spearman")  # an independent rank correlation
    assert fig.axes[0].get_title().endswith(f"ρ = {rho:.2f}")
    assert len(fig.axes[0].collections) == 1 and fig.axes[0].collections[0].get_offsets().shape == (8, 2)


def _with_training(res, val, epochs, subjects):
    """Add best validation CCC, best epochs and LOSO test subjects to every fold of ``res``."""
    for f, v, e, s in zip(res["folds"], val, epochs, subjects):
        f["best_val_ccc"] = {"student": v[0], "student_kd": v[1]}
        f["best_epoch"] = {"student": e[0], "student_kd": e[1]}
        f["test"] = {"subjects": [s]}
    return res


def test_diagnostics_are_the_plain_loop_numbers(tmp_path):
    a = {"teacher": [0.6, 0.7, 0.2], "student": [0.3, 0.4, 0.1], "student_kd": [0.35, 0.38, 0.0]}
    b = {"teacher": [0.5, 0.9, 0.4], "student": [0.2, 0.1, 0.5], "student_kd": [0.25, 0.3, 0.45]}
    val = [[(0.5, 0.6), (0.4, 0.4), (0.3, 0.2)], [(0.1, 0.3), (0.5, 0.5), (0.6, 0.7)]]
    epochs = [[(10, 4), (12, 6), (8, 8)], [(20, 2), (6, 6), (9, 3)]]
    for seed, scores in enumerate((a, b)):
        _write(tmp_path, f"s{seed}", _with_training(_results("book", "loso", seed, scores=scores), val[seed],
                                                    epochs[seed], ["P1", "P2", "P3"]))
    d = collection.diagnostics(collection.load_runs(tmp_path)).iloc[0]
    pooled = {m: a[m] + b[m] for m in a}
    assert d["n"] == 6 and d["seeds"] == "0,1"
    assert d["teacher_lead"] == pytest.approx(statistics.fmean(t - s for t, s in zip(pooled["teacher"],
                                                                                     pooled["student"])))
    gain = [k - s for k, s in zip(pooled["student_kd"], pooled["student"])]
    assert d["kd_gain"] == pytest.approx(statistics.fmean(gain))
    assert d["gain_teacher_spearman"] == pytest.approx(pd.Series(pooled["teacher"]).corr(pd.Series(gain),
                                                                                        method="spearman"))
    assert d["kd_gain_validation"] == pytest.approx(statistics.fmean(k - s for v in val for s, k in v))
    assert d["seed_sd_student"] == pytest.approx(statistics.fmean(
        statistics.stdev([a["student"][i], b["student"][i]]) for i in range(3)))
    assert d["best_epoch_student"] == pytest.approx(statistics.fmean(e[0] for s in epochs for e in s))
    assert d["best_epoch_kd"] == pytest.approx(statistics.fmean(e[1] for s in epochs for e in s))


def test_student_shortfall_and_its_link_to_the_gain_are_the_plain_loop_numbers(tmp_path):
    a = {"teacher": [0.6, 0.7, 0.2, 0.5], "student": [0.3, 0.4, 0.1, 0.2], "student_kd": [0.35, 0.38, 0.3, 0.2]}
    val = [(0.5, 0.6), (0.4, 0.4), (0.3, 0.2), (0.45, 0.5)]
    ridge_val = [0.55, 0.42, 0.50, 0.40]
    res = _with_training(_results("paper", "loso", 0, scores=a), val, [(1, 1)] * 4, ["P1", "P2", "P3", "P4"])
    for f, r in zip(res["folds"], ridge_val):
        f["ridge"] = {"ref_ridge_student": {"alpha": 1.0, "val_ccc": r}}
    _write(tmp_path, "paper", res)
    d = collection.diagnostics(collection.load_runs(tmp_path)).iloc[0]
    shortfall = [r - v[0] for r, v in zip(ridge_val, val)]  # ridge − student, validation
    gain = [k - s for k, s in zip(a["student_kd"], a["student"])]  # KD − student, test
    assert d["student_shortfall"] == pytest.approx(statistics.fmean(shortfall))
    assert d["gain_shortfall_spearman"] == pytest.approx(
        pd.Series(shortfall).corr(pd.Series(gain), method="spearman"))
    # a run without the ridge reference (the first book runs): nan, not an error
    _write(tmp_path / "old", "book", _with_training(_results("book", "loso", 0, scores=a), val, [(1, 1)] * 4,
                                                    ["P1", "P2", "P3", "P4"]))
    old = collection.diagnostics(collection.load_runs(tmp_path / "old")).iloc[0]
    assert np.isnan(old["student_shortfall"]) and np.isnan(old["gain_shortfall_spearman"])


def test_seed_averaged_test_needs_the_same_subjects_in_the_same_folds(tmp_path):
    a = {"teacher": [0.6, 0.7, 0.2], "student": [0.3, 0.4, 0.1], "student_kd": [0.35, 0.38, 0.0]}
    v, e = [(0.1, 0.1)] * 3, [(1, 1)] * 3
    _write(tmp_path, "s0", _with_training(_results("book", "loso", 0, scores=a), v, e, ["P1", "P2", "P3"]))
    _write(tmp_path, "s1", _with_training(_results("book", "loso", 1, scores=a), v, e, ["P1", "P2", "P3"]))
    group = collection.load_runs(tmp_path)
    t = collection.seed_averaged_test(group)
    assert t["n_folds"] == 3 and t["mean_diff"] == pytest.approx(statistics.fmean([0.05, -0.02, -0.1]))
    assert collection.seed_averaged_test(group[:1]) is None
    assert collection.seed_averaged_test(group, "student", "ref_ridge_student") is None  # no ridge in these runs
    _write(tmp_path, "s2", _with_training(_results("book", "loso", 2, scores=a), v, e, ["P2", "P1", "P3"]))
    assert collection.seed_averaged_test(collection.load_runs(tmp_path)) is None


def test_an_unknown_preset_is_refused_naming_the_file(tmp_path):
    res = _results("book")
    res["preset"] = "fancy"
    _write(tmp_path, "r", res)
    with pytest.raises(EmokdError, match="r/results.json: .*fancy"):
        collection.load_runs(tmp_path)


def _agreement_fold(test, best, ccc):
    return {"test": {"trials": test}, "best_epoch": {"student": best},
            "metrics": {"student": {"concatenated": {"ccc": ccc}}}}


def test_fold_agreement_matches_folds_by_their_test_trials():
    base = {"folds": [_agreement_fold(["A"], 5, 0.40), _agreement_fold(["B"], 7, 0.30),
                      _agreement_fold(["C"], 2, 0.10)]}
    # the kdsel run lists its folds in another order, one differs, one is missing
    res = {"folds": [_agreement_fold(["B"], 7, 0.30), _agreement_fold(["A"], 6, 0.43)]}
    agree = collection.fold_agreement(res, base)
    assert set(agree) == {"student"}  # teacher and student_kd are in neither
    assert agree["student"]["folds"] == 2
    assert agree["student"]["same_best_epoch"] == 1
    assert agree["student"]["max_abs_ccc_diff"] == pytest.approx(0.03)
    same = collection.fold_agreement({"folds": base["folds"]}, base)
    assert same["student"] == {"folds": 3, "same_best_epoch": 3, "max_abs_ccc_diff": 0.0}


def test_one_seed_loso_test_is_scipys_paired_test_over_the_subjects():
    """A LOSO configuration run with one seed (kdsel; studies/bench_real.py asks with ``min_runs=1``) gets the
    paired test over its subjects."""
    from scipy import stats as sps

    def fold(k, a, b):
        return {"fold": k, "test": {"subjects": [k]},
                "metrics": {m: {"concatenated": {"ccc": v}} for m, v in (("student_kd_selected", a), ("student", b))}}

    a, b = [0.5, 0.2, 0.4, 0.9, 0.3], [0.4, 0.3, 0.1, 0.6, 0.3]
    results = {"models": ["student", "student_kd_selected"], "references": [],
               "folds": [fold(k, x, y) for k, (x, y) in enumerate(zip(a, b))]}
    run = collection.StudyRun("kdsel-book_subject", "kdsel-book_subject", "loso", 1, results)
    t = collection.seed_averaged_test([run], "student_kd_selected", "student", min_runs=1)
    assert t["seeds"] == [1] and t["n_folds"] == 5 and t["n_better"] == 3
    assert t["t_test_p"] == pytest.approx(sps.ttest_rel(a, b).pvalue)
    assert t["mean_student_kd_selected"] == pytest.approx(sum(a) / 5)
    assert collection.seed_averaged_test([run], "teacher", "student", min_runs=1) is None
    assert collection.seed_averaged_test([run], "student_kd_selected", "student") is None  # min_runs 2 by default


def test_the_figure_wraps_many_groups_into_readable_rows(tmp_path):
    from emokd.core import style

    rng = np.random.default_rng(0)
    configs = [("book", {}), ("paper", {}), ("book", {"normalisation": "subject", "face_normalisation": "subject"}),
               ("smoke", {})]
    for i, ((preset, extra), protocol) in enumerate([(c, p) for c in configs for p in ("trs", "loso")]):
        t, s, k = rng.uniform(0, 1, (3, 8))
        _write(tmp_path, f"r{i}", _results(preset, protocol, 0, scores={"teacher": list(t), "student": list(s),
                                                                         "student_kd": list(k)}, **extra))
    fig = collection.plot_kd_gains(collection.load_runs(tmp_path))
    assert len(fig.axes) == 8
    assert style.narrow_panels(fig) == [], "eight panels in a row (before issue 36) were 60 px each"


def test_the_controls_of_issue_34_name_their_configuration():
    base = _results("book", normalisation="subject", face_normalisation="subject")
    assert collection.configuration(base) == "book_subject"  # no control: the name it had
    assert collection.configuration(_results("book", normalisation="subject", face_normalisation="subject",
                                              eeg_bands=["theta", "alpha"])) == "book_subject_bands-theta+alpha"
    assert collection.configuration(_results("book", drop_channels=["Fp1", "T8"], permute_labels=3,
                                              kd_select=[0, 1])) == "kdsel-book_drop-Fp1+T8_perm3"
    assert collection.configuration(_results("book", permute_labels=0)) == "book_perm0"
