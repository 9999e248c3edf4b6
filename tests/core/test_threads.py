"""Same inputs, same numbers: a run's results do not depend on how its folds are scheduled.

One smoke configuration, run four ways: ``--n-jobs 1`` with 2 BLAS/OpenMP threads, ``--n-jobs 2``
with 1, one fold retrained in this process with torch at 2 threads (what a chapter does), and
the CLI on a Dask LocalCluster of two worker processes with two threads each (``--scheduler``).
Metrics, predictions, knowledge and model files must be identical, byte for byte.
"""

import json
import os
import subprocess
import sys
import threading

import pytest
import torch

from emokd.core.config import experiment_config
from emokd.training.datasets import make_folds
from emokd.errors import EmokdError
from emokd.training.folddata import load_trials
from emokd.core.threads import FOLD_THREADS, compute_record, fold_threads

#: files of a fold that hold numbers only (the logs and checkpoints also hold wall times)
NUMBER_FILES = ("teacher.pt", "student.pt", "student_kd.pt", "predictions.npz", "knowledge.npz", "knowledge.json")
#: fields of results.json and fold.json that say how long and how many ways it ran, not what it computed
TIMING = {"runtime_s", "n_jobs", "seconds"}


def test_fold_threads_sets_and_restores_in_the_calling_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with fold_threads():
            assert torch.get_num_threads() == FOLD_THREADS == 1
        assert torch.get_num_threads() == 2
        seen = []

        def other():  # a second thread (a Dask worker's) gets the fold's count when it sets it itself
            with fold_threads():
                seen.append(torch.get_num_threads())

        t = threading.Thread(target=other)
        t.start()
        t.join()
        assert seen == [1] and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_folds_in_threads_of_one_process_take_turns_with_the_random_generator():
    """torch's default generator is one per process: a fold seeded in one thread must draw its own
    numbers even while another thread's fold seeds and draws (as two threads of a Dask worker do)."""
    import time

    def fold(seed, out):
        with fold_threads():
            torch.manual_seed(seed)
            time.sleep(0.05)  # the other thread would seed here without the lock
            out[seed] = torch.rand(4)

    got = {}
    threads = [threading.Thread(target=fold, args=(s, got)) for s in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for seed in (1, 2):
        torch.manual_seed(seed)
        assert torch.equal(got[seed], torch.rand(4)), seed


def test_compute_record_names_the_resolved_device():
    assert compute_record("cpu") == {"device": "cpu", "torch_threads": 1}
    expected = "cuda" if torch.cuda.is_available() else "mps" if torch.backends.mps.is_available() else "cpu"
    assert compute_record("auto")["device"] == expected


@pytest.mark.slow
def test_scheduler_client_names_a_scheduler_that_does_not_answer():
    pytest.importorskip("distributed")
    from emokd.evaluation.cluster import scheduler_client

    with pytest.raises(EmokdError, match=r"^--scheduler tcp://127.0.0.1:9: no Dask scheduler answered within 2 s"):
        with scheduler_client("tcp://127.0.0.1:9", timeout_s=2):
            pass
    with pytest.raises(EmokdError, match=r"--scheduler nothing-here: neither a scheduler address"):
        with scheduler_client("nothing-here"):
            pass


def _strip(obj):
    """results.json or fold.json without the fields that time the run (and the data's path)."""
    if isinstance(obj, dict):
        return {k: _strip(v) for k, v in obj.items() if k not in TIMING and k != "data_path"}
    if isinstance(obj, list):
        return [_strip(v) for v in obj]
    return "nan" if obj != obj else obj  # NaN (a constant reference's PCC) equals itself here


def _env(threads: int) -> dict:
    env = dict(os.environ)
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        env[var] = str(threads)
    return env


def _run_cli(prepared, out, *args, threads: int):
    cmd = [sys.executable, "-m", "emokd", "run", "--preset", "smoke", "--seed", "5", "--data", str(prepared),
           "--out", str(out), "--quiet", *args]
    done = subprocess.run(cmd, capture_output=True, text=True, env=_env(threads), timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]


def _fold_files(out, fold: int) -> dict:
    here = out / "folds" / f"fold_{fold:02d}"
    return {name: (here / name).read_bytes() for name in NUMBER_FILES}


@pytest.mark.slow
def test_one_configuration_gives_one_result_however_its_folds_are_scheduled(smoke_prepared, tmp_path):
    distributed = pytest.importorskip("distributed")
    prepared = smoke_prepared[0]
    one, two, dask = tmp_path / "n_jobs_1", tmp_path / "n_jobs_2", tmp_path / "dask"
    _run_cli(prepared, one, "--n-jobs", "1", threads=2)
    _run_cli(prepared, two, "--n-jobs", "2", threads=1)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=2, processes=True, dashboard_address=None,
                                  host="127.0.0.1") as cluster:
        _run_cli(prepared, dask, "--scheduler", cluster.scheduler_address, threads=2)
        workers = len(cluster.workers)
    assert workers == 2
    results = {p.name: json.loads((p / "results.json").read_text()) for p in (one, two, dask)}
    assert results["dask"]["n_jobs"] == -1 and results["n_jobs_2"]["n_jobs"] == 2
    assert _strip(results["n_jobs_2"]) == _strip(results["n_jobs_1"])
    assert _strip(results["dask"]) == _strip(results["n_jobs_1"])
    assert results["n_jobs_1"]["compute"] == {"device": "cpu", "torch_threads": 1}
    n_folds = results["n_jobs_1"]["n_folds"]
    for fold in range(n_folds):
        files = _fold_files(one, fold)
        assert _fold_files(two, fold) == files, fold
        assert _fold_files(dask, fold) == files, fold
    # a chapter retrains fold 0 in its kernel, where torch has every core: the run's fold, to the byte
    from emokd.training.fold import run_fold

    cfg = experiment_config("smoke", "loso", 5)
    subjects = {k: t["subject"] for k, t in load_trials(prepared, frames=False).items()}
    fold0 = make_folds(subjects, "loso", seed=5, n_folds=cfg.n_folds, val_fraction=cfg.val_fraction)[0]
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        kernel = run_fold(prepared, fold0, cfg, tmp_path / "kernel")
    finally:
        torch.set_num_threads(before)
    assert _fold_files(tmp_path / "kernel", 0) == _fold_files(one, 0)
    in_run = results["n_jobs_1"]["folds"][0]["metrics"]
    assert kernel["metrics"] == {name: in_run[name] for name in kernel["metrics"]}


@pytest.mark.slow
def test_a_fold_computed_on_another_device_is_refused_not_reused(smoke_prepared, tmp_path):
    from emokd.evaluation.experiment import run_experiment

    cfg = experiment_config("smoke", "loso", 5)
    out = tmp_path / "run"
    run_experiment(smoke_prepared[0], cfg, out, n_jobs=2, progress=False)
    fold_json = out / "folds" / "fold_01" / "fold.json"
    record = json.loads(fold_json.read_text())
    record["compute"] = {"device": "cuda", "torch_threads": 1}
    fold_json.write_text(json.dumps(record))
    (out / "results.json").unlink()
    with pytest.raises(EmokdError, match=r"fold_01/fold.json: field 'compute' is \{'device': 'cuda'.*--fresh"):
        run_experiment(smoke_prepared[0], cfg, out, n_jobs=2, progress=False)
