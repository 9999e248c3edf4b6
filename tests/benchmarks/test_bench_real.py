"""benchmarks/bench_real.py: the commands of each configuration, the kdsel base chosen on validation only,
resumable run folders (Holm's correction, which it uses, is emokd.evaluation.stats.holm: tests/evaluation/test_stats.py)."""

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import bench_real  # noqa: E402


def test_commands_of_each_configuration():
    out = Path("emokd-runs/mahnob-features/x")
    cmd = bench_real.command("loso", 1, 2, "DATA", out, "paper")
    assert cmd[1:] == ["-m", "emokd", "run", "--preset", "paper", "--protocol", "loso", "--seed", "1", "--n-jobs",
                       "2", "--data", "DATA", "--out", str(out), "--quiet"]
    sub = bench_real.command("trs", 0, 1, "DATA", out, "kdsel-book_subject", device="cuda")
    assert sub[4:20] == ["--preset", "book", "--max-epochs", "40", "--early-stop", "8", "--lr-patience", "3",
                         "--epoch-fraction", "1", "--normalisation", "subject", "--face-normalisation", "subject",
                         "--kd-select", "0,0.1,0.3,1,3"]
    assert sub[-3:] == ["--device", "cuda", "--quiet"]
    assert bench_real.run_name("book", "loso", 2) == "loso_seed2"  # the committed book runs keep their folders
    assert bench_real.run_name("paper", "trs", 0) == "paper_trs_seed0"
    from emokd.__main__ import build_parser

    for config in ("paper", "book_subject", "kdsel-paper"):  # every command parses
        build_parser().parse_args(bench_real.command("loso", 0, 1, "D", out, config)[3:])
    # on a cluster: the scheduler passed on to the run, which parses it
    on_dask = bench_real.command("loso", 0, -1, "D", out, "book", scheduler="tcp://scheduler.example:8786")
    assert on_dask[-3:] == ["--scheduler", "tcp://scheduler.example:8786", "--quiet"]
    assert build_parser().parse_args(on_dask[3:]).scheduler == "tcp://scheduler.example:8786"


def _stored_part(now, stored):
    """``now`` restricted to the keys ``stored`` has (a run made before a field existed lacks it)."""
    if isinstance(stored, dict) and isinstance(now, dict):
        return {k: _stored_part(now.get(k), v) for k, v in stored.items()}
    return now


def test_commands_make_the_configuration_of_every_committed_run():
    """Each committed real-data run's config is what its configuration's command makes today (so a rerun
    resumes from its fold records and reproduces it), although the book preset's students stop earlier now."""
    from emokd.__main__ import experiment_config_from_args, build_parser
    from emokd.core.config import on_feature_release
    from emokd.training.fold import as_json

    runs = {bench_real.run_name(c, p, s): (c, p, s) for c in bench_real.CONFIGS for p in ("loso", "trs")
            for s in range(3)}
    checked = 0
    for res_file in sorted(bench_real.RESULTS.glob("*/results.json")):
        if res_file.parent.name not in runs:
            continue
        config, protocol, seed = runs[res_file.parent.name]
        stored = json.loads(res_file.read_text())["config"]
        args = build_parser().parse_args(bench_real.command(protocol, seed, 2, "D", Path("o"), config)[3:])
        now = as_json(on_feature_release(experiment_config_from_args(args)))
        assert _stored_part(now, stored) == stored, res_file
        checked += 1
    assert checked >= 6


def _fake(path: Path, seed: int, val: float, test: float):
    folds = [{"fold": k, "test": {"subjects": [k]}, "best_val_ccc": {"student": val, "student_kd": val},
              "metrics": {m: {"concatenated": {"ccc": test}} for m in ("teacher", "student", "student_kd")}}
             for k in range(3)]
    path.mkdir(parents=True)
    (path / "results.json").write_text(json.dumps({"seed": seed, "folds": folds, "n_jobs": 1}))


def test_kdsel_base_is_chosen_on_validation_never_on_test(tmp_path, monkeypatch):
    monkeypatch.setattr(bench_real, "RESULTS", tmp_path)
    with pytest.raises(SystemExit, match="run paper and book_subject"):
        bench_real.choose_base("loso")
    _fake(tmp_path / "paper_loso_seed0", 0, val=0.30, test=0.9)  # the better test score ...
    _fake(tmp_path / "book_subject_loso_seed0", 0, val=0.40, test=0.1)  # ... the better validation score
    _fake(tmp_path / "book_subject_loso_seed1", 1, val=0.0, test=0.1)  # a seed the other base lacks: ignored
    base, why = bench_real.choose_base("loso")
    assert base == "book_subject" and why["seeds"] == [0]
    assert why["validation_ccc"] == {"paper": pytest.approx(0.30), "book_subject": pytest.approx(0.40)}
    assert [r["seed"] for r in bench_real._load("book_subject", "loso")] == [0, 1]
    assert bench_real._load("book", "loso") == []  # paper_loso_seed0 is not a book run
    line = bench_real.base_choice_line("loso")  # the report says which base and on what numbers
    assert "`book_subject`;" in line and "`paper` 0.300, `book_subject` 0.400" in line and "(0)" in line


def test_kdsel_starts_from_the_base_runs_checkpoints(tmp_path):
    base, run = tmp_path / "base", tmp_path / "kdsel"
    (base / "folds" / "fold_00").mkdir(parents=True)
    for name in ("teacher.ckpt", "student.ckpt", "student_kd.ckpt", "fold.json", "predictions.npz"):
        (base / "folds" / "fold_00" / name).write_text(name)
    bench_real._seed_from_base(base, run)
    got = sorted(p.name for p in (run / "folds" / "fold_00").iterdir())
    assert got == ["student.ckpt", "student_kd.ckpt", "teacher.ckpt"]  # never the base's finished fold.json
    (run / "folds" / "fold_00" / "student.ckpt").write_text("trained further")
    bench_real._seed_from_base(base, run)  # an interrupted kdsel run is resumed, not overwritten
    assert (run / "folds" / "fold_00" / "student.ckpt").read_text() == "trained further"


def test_save_records_copies_finished_folds_once(tmp_path):
    run, records = tmp_path / "run", tmp_path / "records"
    for n, text in ((0, '{"fold": 0}'), (3, '{"fold": 3}')):
        (run / "folds" / f"fold_{n:02d}").mkdir(parents=True)
        (run / "folds" / f"fold_{n:02d}" / "fold.json").write_text(text)
    (run / "folds" / "fold_05").mkdir()  # unfinished: only checkpoints
    (run / "folds" / "fold_05" / "teacher.ckpt").write_bytes(b"x")
    assert bench_real.save_records(run, records) == [0, 3]
    assert sorted(p.name for p in records.iterdir()) == ["fold_00.json", "fold_03.json"]
    assert (records / "fold_03.json").read_text() == '{"fold": 3}'
    assert bench_real.save_records(run, records) == []  # nothing new
    (run / "folds" / "fold_03" / "fold.json").write_text('{"fold": 3, "redone": true}')
    assert bench_real.save_records(run, records) == [3]


def test_runtime_reports_the_last_invocation_and_the_median_fold():
    # one fold that sat through a paused queue must not pass for the run's compute
    res = {"runtime_s": 600.0, "n_jobs": 2, "folds": [{"seconds": 60.0}, {"seconds": 120.0}, {"seconds": 6000.0}]}
    text = bench_real._runtime(res)
    assert text.startswith("10.0 min wall in its last invocation (n_jobs 2)")
    assert "folds 2.0 min median, 103.0 min summed" in text
    assert "upper bound" in text


def _fold(test, best, ccc):
    return {"test": {"trials": test}, "best_epoch": {"student": best},
            "metrics": {"student": {"concatenated": {"ccc": ccc}}}}


def test_base_agreement_matches_folds_by_their_test_trials():
    base = {"folds": [_fold(["A"], 5, 0.40), _fold(["B"], 7, 0.30), _fold(["C"], 2, 0.10)]}
    # the kdsel run lists its folds in another order, one differs, one is missing
    res = {"folds": [_fold(["B"], 7, 0.30), _fold(["A"], 6, 0.43)]}
    agree = bench_real.base_agreement(res, base)
    assert set(agree) == {"student"}  # teacher and student_kd are in neither
    assert agree["student"]["folds"] == 2
    assert agree["student"]["same_best_epoch"] == 1
    assert agree["student"]["max_abs_ccc_diff"] == pytest.approx(0.03)
    same = bench_real.base_agreement({"folds": base["folds"]}, base)
    assert same["student"] == {"folds": 3, "same_best_epoch": 3, "max_abs_ccc_diff": 0.0}


def test_one_seed_loso_test_is_scipys_paired_test_over_the_subjects():
    """A LOSO configuration run with one seed (kdsel) enters the KD family with the paired test over its subjects."""
    from scipy import stats as sps

    def fold(k, a, b):
        return {"fold": k, "test": {"subjects": [k]},
                "metrics": {m: {"concatenated": {"ccc": v}} for m, v in (("student_kd_selected", a), ("student", b))}}

    a, b = [0.5, 0.2, 0.4, 0.9, 0.3], [0.4, 0.3, 0.1, 0.6, 0.3]
    run = {"config": "kdsel-book_subject", "protocol": "loso", "seed": 1,
           "results": {"models": ["student", "student_kd_selected"], "references": [],
                       "folds": [fold(k, x, y) for k, (x, y) in enumerate(zip(a, b))]}}
    t = bench_real.seed_averaged_test([run], "student_kd_selected", "student", min_runs=1)
    assert t["seeds"] == [1] and t["n_folds"] == 5 and t["n_better"] == 3
    assert t["t_test_p"] == pytest.approx(sps.ttest_rel(a, b).pvalue)
    assert t["mean_student_kd_selected"] == pytest.approx(sum(a) / 5)
    assert bench_real.seed_averaged_test([run], "teacher", "student", min_runs=1) is None
