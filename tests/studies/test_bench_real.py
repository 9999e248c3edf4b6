"""studies/bench_real.py, run as a script: the commands of each configuration (``--list``), the kdsel base chosen
on validation only, the state and runtime of each run, kdsel run folders started from their base's checkpoints.

What it computes with emokd's own functions is tested with them: Holm (emokd.evaluation.stats.holm,
tests/evaluation/test_stats.py), the seed-averaged test and the agreement of a kdsel run with its base
(emokd.evaluation.collection.seed_averaged_test and fold_agreement, tests/evaluation/test_collection.py), the fold
records kept as a run goes (emokd.training.runs.copy_fold_records, tests/training/test_runs.py)."""

import json
import shlex
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = ("book", "paper", "book_subject")


def _listed(run_script, tmp_path, *args, check=True):
    """``bench_real.py --list ARGS`` over the results in ``tmp_path/results``: name -> (state, command as a list);
    and the lines about the kdsel base (``# kdsel on P: ...``)."""
    args = ("--results", tmp_path / "results", "--runs", tmp_path / "runs", *args)
    proc = run_script("bench_real.py", "--list", *args, check=check)
    if not check:
        return proc
    runs, notes = {}, []
    for line in proc.stdout.splitlines():
        if line.startswith("# "):
            notes.append(line)
        else:
            name, state, cmd = line.split("\t")
            runs[name] = (state, shlex.split(cmd))
    return runs, notes


def _fake(path: Path, seed: int, val: float, test: float, **extra):
    folds = [{"fold": k, "test": {"subjects": [k]}, "best_val_ccc": {"student": val, "student_kd": val},
              "metrics": {m: {"concatenated": {"ccc": test}} for m in ("teacher", "student", "student_kd")},
              "seconds": 60.0} for k in range(3)]
    path.mkdir(parents=True)
    (path / "results.json").write_text(json.dumps({"seed": seed, "folds": folds, "n_jobs": 1, "runtime_s": 60.0}
                                                  | extra))


def _bases(results: Path, paper_val: float, subject_val: float, protocol: str = "loso"):
    _fake(results / f"paper_{protocol}_seed0", 0, val=paper_val, test=0.9)
    _fake(results / f"book_subject_{protocol}_seed0", 0, val=subject_val, test=0.1)


@pytest.mark.slow
def test_commands_of_each_configuration(tmp_path, study_script):
    runs, _ = _listed(study_script, tmp_path, "--configs", "paper", "--protocols", "loso", "--seeds", "1",
                      "--n-jobs", "2", "--data", "DATA")
    out = tmp_path / "runs" / "paper_loso_seed1"
    assert runs["paper_loso_seed1"][1][1:] == ["-m", "emokd", "run", "--preset", "paper", "--protocol", "loso",
                                               "--seed", "1", "--n-jobs", "2", "--data", "DATA", "--out", str(out),
                                               "--quiet"]
    _bases(tmp_path / "results", paper_val=0.3, subject_val=0.4, protocol="trs")
    runs, _ = _listed(study_script, tmp_path, "--configs", "kdsel", "--protocols", "trs", "--seeds", "0",
                      "--n-jobs", "1", "--data", "DATA", "--device", "cuda")
    sub = runs["kdsel-book_subject_trs_seed0"][1]
    assert sub[4:20] == ["--preset", "book", "--max-epochs", "40", "--early-stop", "8", "--lr-patience", "3",
                         "--epoch-fraction", "1", "--normalisation", "subject", "--face-normalisation", "subject",
                         "--kd-select", "0,0.1,0.3,1,3"]
    assert sub[-3:] == ["--device", "cuda", "--quiet"]
    names = _listed(study_script, tmp_path, "--configs", "book", "paper", "--protocols", "loso", "trs",
                    "--seeds", "0", "2")[0]
    assert "loso_seed2" in names and "paper_trs_seed0" in names  # the committed book runs keep their folders
    from emokd.__main__ import build_parser

    (tmp_path / "paper_wins").mkdir()
    _bases(tmp_path / "paper_wins" / "results", paper_val=0.5, subject_val=0.4)
    kdsel_paper = _listed(study_script, tmp_path / "paper_wins", "--configs", "kdsel", "--protocols", "loso",
                          "--seeds", "0", "--data", "D")[0]
    every = _listed(study_script, tmp_path, "--configs", "paper", "book_subject", "--protocols", "loso",
                    "--seeds", "0", "--data", "D")[0] | kdsel_paper
    assert {"paper_loso_seed0", "book_subject_loso_seed0", "kdsel-paper_loso_seed0"} == set(every)
    for _, cmd in every.values():  # every command parses
        build_parser().parse_args(cmd[3:])
    # on a cluster: the scheduler passed on to the run, which parses it
    on_dask = _listed(study_script, tmp_path, "--configs", "book", "--protocols", "loso", "--seeds", "0",
                      "--n-jobs", "-1", "--scheduler", "tcp://scheduler.example:8786")[0]["loso_seed0"][1]
    assert on_dask[-3:] == ["--scheduler", "tcp://scheduler.example:8786", "--quiet"]
    assert build_parser().parse_args(on_dask[3:]).scheduler == "tcp://scheduler.example:8786"


def _stored_part(now, stored):
    """``now`` restricted to the keys ``stored`` has (a run made before a field existed lacks it)."""
    if isinstance(stored, dict) and isinstance(now, dict):
        return {k: _stored_part(now.get(k), v) for k, v in stored.items()}
    return now


def test_commands_make_the_configuration_of_every_committed_run(study_script):
    """Each committed real-data run's config is what its configuration's command makes today (so a rerun
    resumes from its fold records and reproduces it), although the book preset's students stop earlier now."""
    from emokd.__main__ import build_parser, experiment_config_from_args
    from emokd.core.config import on_feature_release
    from emokd.training.fold import as_json

    results = ROOT / "results" / "mahnob-features"
    proc = study_script("bench_real.py", "--list", "--configs", *CONFIGS, "--protocols", "loso", "trs",
                        "--seeds", "0", "1", "2", "--n-jobs", "2", "--data", "D", "--runs", "o")
    checked = 0
    for line in proc.stdout.splitlines():
        name, _, cmd = line.split("\t")
        res_file = results / name / "results.json"
        if not res_file.is_file():
            continue
        stored = json.loads(res_file.read_text())["config"]
        args = build_parser().parse_args(shlex.split(cmd)[3:])
        now = as_json(on_feature_release(experiment_config_from_args(args)))
        assert _stored_part(now, stored) == stored, res_file
        checked += 1
    assert checked >= 6


def test_kdsel_base_is_chosen_on_validation_never_on_test(tmp_path, study_script):
    refused = _listed(study_script, tmp_path, "--configs", "kdsel", "--protocols", "loso", "--seeds", "0",
                      check=False)
    assert refused.returncode != 0 and "run paper and book_subject" in refused.stderr
    results = tmp_path / "results"
    _fake(results / "paper_loso_seed0", 0, val=0.30, test=0.9)  # the better test score ...
    _fake(results / "book_subject_loso_seed0", 0, val=0.40, test=0.1)  # ... the better validation score
    _fake(results / "book_subject_loso_seed1", 1, val=0.0, test=0.1)  # a seed the other base lacks: ignored
    runs, notes = _listed(study_script, tmp_path, "--configs", "kdsel", "--protocols", "loso", "--seeds", "0")
    assert list(runs) == ["kdsel-book_subject_loso_seed0"] and runs["kdsel-book_subject_loso_seed0"][0] == "to run"
    line = notes[0]  # the report says which base and on what numbers
    assert "`book_subject`;" in line and "`paper` 0.300, `book_subject` 0.400" in line and "(0)" in line
    found, _ = _listed(study_script, tmp_path, "--configs", "book_subject", "book", "--protocols", "loso",
                       "--seeds", "0", "1")
    assert [n for n, (state, _) in found.items() if state != "to run"] == ["book_subject_loso_seed0",
                                                                           "book_subject_loso_seed1"]
    assert found["loso_seed0"][0] == "to run"  # paper_loso_seed0 is not a book run


@pytest.mark.slow  # runs `python -m emokd run` (which stops at once: there is no data)
def test_kdsel_starts_from_the_base_runs_checkpoints(tmp_path, study_script):
    _bases(tmp_path / "results", paper_val=0.3, subject_val=0.4)
    base, run = tmp_path / "runs" / "book_subject_loso_seed0", tmp_path / "runs" / "kdsel-book_subject_loso_seed0"
    (base / "folds" / "fold_00").mkdir(parents=True)
    for name in ("teacher.ckpt", "student.ckpt", "student_kd.ckpt", "fold.json", "predictions.npz"):
        (base / "folds" / "fold_00" / name).write_text(name)
    args = ("bench_real.py", "--configs", "kdsel", "--protocols", "loso", "--seeds", "0", "--n-jobs", "1",
            "--data", tmp_path / "no-data", "--results", tmp_path / "results", "--runs", tmp_path / "runs",
            "--runtimes", tmp_path / "runtimes.json")
    assert study_script(*args, check=False).returncode != 0  # emokd run: no data
    got = sorted(p.name for p in (run / "folds" / "fold_00").iterdir())
    assert got == ["student.ckpt", "student_kd.ckpt", "teacher.ckpt"]  # never the base's finished fold.json
    assert (run / "folds" / "fold_00" / "student.ckpt").read_text() == "student.ckpt"
    (run / "folds" / "fold_00" / "student.ckpt").write_text("trained further")
    assert study_script(*args, check=False).returncode != 0  # an interrupted kdsel run is resumed, not overwritten
    assert (run / "folds" / "fold_00" / "student.ckpt").read_text() == "trained further"


def test_runtime_reports_the_last_invocation_and_the_median_fold(tmp_path, study_script):
    # one fold that sat through a paused queue must not pass for the run's compute
    run = tmp_path / "results" / "loso_seed0"
    run.mkdir(parents=True)
    (run / "results.json").write_text(json.dumps({"runtime_s": 600.0, "n_jobs": 2, "folds": [
        {"seconds": 60.0}, {"seconds": 120.0}, {"seconds": 6000.0}]}))
    (tmp_path / "results" / "loso_seed1" / "folds").mkdir(parents=True)  # stopped with a session: 2 records kept
    for k in (0, 4):
        (tmp_path / "results" / "loso_seed1" / "folds" / f"fold_{k:02d}.json").write_text("{}")
    runs, _ = _listed(study_script, tmp_path, "--configs", "book", "--protocols", "loso", "--seeds", "0", "1", "2")
    text = runs["loso_seed0"][0]
    assert text.startswith("10.0 min wall in its last invocation (n_jobs 2)")
    assert "folds 2.0 min median, 103.0 min summed" in text
    assert "upper bound" in text
    assert runs["loso_seed1"][0] == "2 folds kept" and runs["loso_seed2"][0] == "to run"
