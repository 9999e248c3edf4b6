"""The experiment runner on the smoke data: results, leakage, determinism, resume, Dask."""

import dataclasses
import json

import numpy as np
import pytest

from emokd.core.config import experiment_config
from emokd.training.datasets import WindowSet
from emokd.errors import EmokdError
from emokd.training.folddata import load_trials
from emokd.evaluation.experiment import run_experiment
from emokd.core.fileio import sha256
from emokd.training.train import extract_knowledge, load_model

MODELS = ("teacher", "student", "student_kd")


def _cfg(protocol="loso", **kw):
    cfg = experiment_config("smoke", protocol, seed=0, **kw)
    fast = dataclasses.replace(cfg.student_train, max_epochs=2)
    return dataclasses.replace(cfg, teacher_train=fast, student_train=fast)


@pytest.fixture(scope="module")
def loso_run(smoke_prepared, tmp_path_factory):
    out = tmp_path_factory.mktemp("loso")
    return out, run_experiment(smoke_prepared[0], _cfg(), out, n_jobs=2, progress=False)


def test_results_json_schema(loso_run):
    out, res = loso_run
    on_disk = json.loads((out / "results.json").read_text())
    assert on_disk["protocol"] == "loso" and on_disk["preset"] == "smoke" and on_disk["seed"] == 0
    assert len(on_disk["folds"]) == 3
    for f in on_disk["folds"]:
        assert set(f) >= {"fold", "train", "validation", "test", "metrics"}
        for part in ("train", "validation", "test"):
            assert set(f[part]) == {"subjects", "trials"}
        for m in MODELS:
            for scheme in ("concatenated", "per_trial"):
                assert set(f["metrics"][m][scheme]) >= {"rmse", "pcc", "ccc"}
    for m in MODELS:
        for metric in ("rmse", "pcc", "ccc"):
            vals = [f["metrics"][m]["concatenated"][metric] for f in on_disk["folds"]]
            assert on_disk["summary"][m][metric]["mean"] == pytest.approx(np.mean(vals))
            assert on_disk["summary"][m][metric]["sd"] == pytest.approx(np.std(vals, ddof=1))
    t = on_disk["tests"]["student_kd_vs_student"]
    assert set(t) >= {"t_test_p", "wilcoxon_p", "effect_size", "n_folds"} and t["n_folds"] == 3


def test_metrics_match_saved_predictions(loso_run):
    from emokd.core.metrics import fold_metrics

    out, res = loso_run
    for f in res["folds"]:
        with np.load(out / f["predictions"]) as npz:
            for m in MODELS:
                traces = {k: (npz[f"{k}__true"], npz[f"{k}__{m}"]) for k in f["test"]["trials"]}
                assert fold_metrics(traces)["concatenated"]["ccc"] == pytest.approx(
                    f["metrics"][m]["concatenated"]["ccc"])


def test_reference_points_known_answers(loso_run, smoke_prepared):
    """The references, recomputed by hand from the labels: zero, training mean, trial-mean oracle."""
    out, res = loso_run
    trials = load_trials(smoke_prepared[0])
    assert res["references"] == ["ref_zero", "ref_train_mean", "ref_trial_mean_oracle", "ref_ridge_student",
                                 "ref_ridge_teacher"]
    for f in res["folds"]:
        test = f["test"]["trials"]
        y = np.concatenate([trials[k]["valence"] for k in test]).astype(np.float64)
        mean = np.concatenate([trials[k]["valence"] for k in f["train"]["trials"]]).astype(np.float64).mean()
        oracle = np.concatenate([np.full(len(trials[k]["valence"]), np.mean(trials[k]["valence"], dtype=np.float64))
                                 for k in test])
        m = f["metrics"]
        # a constant prediction: CCC 0 (no covariance), PCC undefined, RMSE from the offset
        assert m["ref_zero"]["concatenated"]["ccc"] == 0.0
        assert np.isnan(m["ref_zero"]["concatenated"]["pcc"])
        assert m["ref_zero"]["concatenated"]["rmse"] == pytest.approx(np.sqrt(np.mean(y ** 2)), rel=1e-5)
        assert m["ref_train_mean"]["concatenated"]["rmse"] == pytest.approx(np.sqrt(np.mean((y - mean) ** 2)),
                                                                            rel=1e-5)
        # the oracle: Lin's CCC by hand (population moments); per trial it is constant, so CCC 0
        cov = np.mean((y - y.mean()) * (oracle - oracle.mean()))
        ccc = 2 * cov / (y.var() + oracle.var() + (y.mean() - oracle.mean()) ** 2)
        assert m["ref_trial_mean_oracle"]["concatenated"]["ccc"] == pytest.approx(ccc, rel=1e-5)
        assert m["ref_trial_mean_oracle"]["per_trial"]["ccc"] == 0.0
    for name in res["references"]:
        assert name in res["summary"] and name not in res["models"]


def test_loso_partitions_and_knowledge_never_for_test_trials(loso_run, smoke_prepared):
    out, res = loso_run
    trials = load_trials(smoke_prepared[0])
    for f in res["folds"]:
        assert len(f["test"]["subjects"]) == 1
        assert not set(f["test"]["subjects"]) & set(f["train"]["subjects"] + f["validation"]["subjects"])
        fold_dir = out / "folds" / f"fold_{f['fold']:02d}"
        meta = json.loads((fold_dir / "knowledge.json").read_text())
        # made for this fold's training and validation trials only ...
        assert meta["trials"] == sorted(f["train"]["trials"] + f["validation"]["trials"])
        assert not set(meta["trials"]) & set(f["test"]["trials"])
        with np.load(fold_dir / "knowledge.npz") as npz:
            cached = {k: npz[k] for k in npz.files}
        assert sorted(cached) == meta["trials"]
        # ... by this fold's teacher: its file hash, and recomputing from it gives the cache
        assert meta["teacher_sha256"] == sha256(fold_dir / "teacher.pt")
        teacher = load_model(fold_dir / "teacher.pt").model
        k0 = meta["trials"][0]
        again = extract_knowledge(teacher, WindowSet([trials[k0]], "frames"))
        np.testing.assert_allclose(again[k0], cached[k0], rtol=1e-5, atol=1e-6)
        # and differs from another fold's teacher
        other = out / "folds" / f"fold_{(f['fold'] + 1) % 3:02d}" / "teacher.pt"
        assert meta["teacher_sha256"] != sha256(other)


def test_teacher_trained_alone_is_the_runs_teacher(loso_run, smoke_prepared, tmp_path):
    """emokd.training.fold.train_teacher trains a fold's teacher as run_fold does: the same weights and test scores."""
    import torch

    from emokd.training.datasets import make_folds
    from emokd.training.fold import train_teacher

    out, res = loso_run
    cfg = _cfg()
    subjects = {k: t["subject"] for k, t in load_trials(smoke_prepared[0]).items()}
    fold = make_folds(subjects, cfg.protocol, seed=cfg.seed, n_folds=cfg.n_folds, val_fraction=cfg.val_fraction)[1]
    threads = torch.get_num_threads()
    torch.set_num_threads(2)  # a notebook's kernel on 2 cores; the run trained this fold in a worker
    try:
        alone = train_teacher(smoke_prepared[0], fold, cfg, tmp_path)
        assert torch.get_num_threads() == 2  # the caller's setting, restored
    finally:
        torch.set_num_threads(threads)
    in_run = res["folds"][1]
    assert alone["fold"] == 1 == in_run["fold"]
    for field in ("best_epoch", "epochs_run", "best_val_ccc"):
        assert alone[field] == in_run[field]["teacher"], field
    assert alone["metrics"] == in_run["metrics"]["teacher"]
    ran = torch.load(out / "folds" / "fold_01" / "teacher.pt", weights_only=False)["state_dict"]
    here = torch.load(tmp_path / "folds" / "fold_01" / "teacher.pt", weights_only=False)["state_dict"]
    assert ran.keys() == here.keys() and all(torch.equal(ran[k], here[k]) for k in ran)
    # the teacher only: no student was trained
    assert sorted(p.name for p in (tmp_path / "folds" / "fold_01").glob("*.pt")) == ["teacher.pt"]


@pytest.mark.slow
def test_trs_no_trial_in_two_partitions(smoke_prepared, tmp_path):
    cfg = _cfg("trs")
    cfg = dataclasses.replace(cfg, teacher_train=dataclasses.replace(cfg.teacher_train, max_epochs=1),
                              student_train=dataclasses.replace(cfg.student_train, max_epochs=1))
    res = run_experiment(smoke_prepared[0], cfg, tmp_path, progress=False)
    tested = []
    for f in res["folds"]:
        parts = [set(f[p]["trials"]) for p in ("train", "validation", "test")]
        assert sum(map(len, parts)) == len(set().union(*parts)) == 6
        tested += f["test"]["trials"]
    assert sorted(tested) == sorted(load_trials(smoke_prepared[0]))


def _metrics(res):
    """Every fold's metrics as JSON text: exact, and NaN (a constant reference's PCC) equals NaN."""
    return json.dumps([f["metrics"] for f in res["folds"]], sort_keys=True)


@pytest.mark.parametrize("n_jobs", [2, 1])
def test_rerun_resumes_to_identical_results(loso_run, smoke_prepared, tmp_path, n_jobs):
    """Resumed with the n_jobs it ran with, or another (fold 1 then finishes in this process, not in a
    worker): the uninterrupted run's numbers."""
    import shutil

    out, res = loso_run
    copy = tmp_path / "run"
    shutil.copytree(out, copy)
    # fold 1 was "interrupted" during its KD student: only its checkpoints remain, and the
    # run never reached its results.json
    (copy / "results.json").unlink()
    fold1 = copy / "folds" / "fold_01"
    for name in ("fold.json", "student_kd.pt", "predictions.npz"):
        (fold1 / name).unlink()
    done = {p: p.stat().st_mtime_ns for p in copy.glob("folds/fold_0[02]/*.pt")}
    again = run_experiment(smoke_prepared[0], _cfg(), copy, n_jobs=n_jobs, progress=False)
    assert _metrics(again) == _metrics(res)
    # finished folds were reused, not retrained
    assert {p: p.stat().st_mtime_ns for p in done} == done
    assert (fold1 / "student_kd.pt").exists()


def test_finished_run_is_returned_as_it_is(loso_run, smoke_prepared, tmp_path):
    import shutil

    out, res = loso_run
    copy = tmp_path / "run"
    shutil.copytree(out, copy)
    before = (copy / "results.json").read_bytes()
    again = run_experiment(smoke_prepared[0], _cfg(), copy, n_jobs=2, progress=False)
    assert (copy / "results.json").read_bytes() == before  # not rewritten: its runtime is the real one
    assert again["runtime_s"] == res["runtime_s"]
    # another configuration in the same folder is not mistaken for it: refused, naming the change,
    # and run only when told to start over
    with pytest.raises(EmokdError, match=r"configuration: seed 0 -> 1.*--fresh"):
        run_experiment(smoke_prepared[0], dataclasses.replace(_cfg(), seed=1), copy, n_jobs=2, progress=False)
    assert (copy / "results.json").read_bytes() == before
    other = run_experiment(smoke_prepared[0], dataclasses.replace(_cfg(), seed=1), copy, n_jobs=2, progress=False,
                           resume=False)
    assert other["seed"] == 1 and json.loads((copy / "results.json").read_text())["seed"] == 1


def test_dask_cluster_gives_the_same_results(loso_run, smoke_prepared, tmp_path):
    """joblib hands the folds to a local dask.distributed cluster (2 worker processes)."""
    distributed = pytest.importorskip("distributed")
    out, res = loso_run
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        with distributed.get_task_stream(client) as stream:
            dask_res = run_experiment(smoke_prepared[0], _cfg(), tmp_path, n_jobs=2, backend="dask",
                                      progress=False)
    ran_on = {task["worker"] for task in stream.data}
    assert len(stream.data) >= 3 and ran_on  # the folds ran as tasks on the cluster's workers
    # same seed, same thread count per fold: identical metrics (determinism on a CPU)
    assert _metrics(dask_res) == _metrics(res)


def test_truncated_results_json_names_the_file_and_offers_fresh(loso_run, smoke_prepared, tmp_path):
    import shutil

    out, _ = loso_run
    copy = tmp_path / "run"
    shutil.copytree(out, copy)
    text = (copy / "results.json").read_text()
    (copy / "results.json").write_text(text[: len(text) // 2])
    with pytest.raises(EmokdError, match=r"results.json: not readable .*--fresh"):
        run_experiment(smoke_prepared[0], _cfg(), copy, n_jobs=2, progress=False)


def test_deleted_model_file_is_regenerated(loso_run, smoke_prepared, tmp_path):
    import shutil

    out, res = loso_run
    copy = tmp_path / "run"
    shutil.copytree(out, copy)
    (copy / "folds" / "fold_00" / "student.pt").unlink()
    again = run_experiment(smoke_prepared[0], _cfg(), copy, n_jobs=2, progress=False)
    assert (copy / "folds" / "fold_00" / "student.pt").is_file()
    assert _metrics(again) == _metrics(res)  # from its checkpoint: the same model


def test_runtime_after_a_resume_is_the_whole_run(loso_run, smoke_prepared, tmp_path):
    import shutil
    import time

    out, res = loso_run
    copy = tmp_path / "run"
    shutil.copytree(out, copy)
    (copy / "results.json").unlink()
    fold1 = copy / "folds" / "fold_01"
    for name in ("fold.json", "student_kd.pt", "predictions.npz"):
        (fold1 / name).unlink()
    good = (fold1 / "student_kd.ckpt").read_bytes()
    (fold1 / "student_kd.ckpt").write_bytes(good[:100])  # the first segment stops there
    with pytest.raises(EmokdError, match="unreadable checkpoint"):
        run_experiment(smoke_prepared[0], _cfg(), copy, n_jobs=2, progress=False)
    first = json.loads((copy / ".emokd.json").read_text())["seconds_before"]
    assert first > 0
    (fold1 / "student_kd.ckpt").write_bytes(good)
    t0 = time.perf_counter()
    again = run_experiment(smoke_prepared[0], _cfg(), copy, n_jobs=2, progress=False)
    second = time.perf_counter() - t0
    assert again["runtime_s"] > second + 0.5 * first  # both segments, not the last one alone
    assert _metrics(again) == _metrics(res)


@pytest.mark.slow
def test_kd_weight_selected_on_validation_and_ridge_references(smoke_prepared, tmp_path):
    """kd_select: per fold the grid's weight with the best validation CCC, reusing student (0) and
    student_kd (1); ridge references and their alphas in results.json; subject normalisation runs."""
    cfg = _cfg(kd_select=(0.0, 0.5, 1.0), normalisation="subject")
    one = dataclasses.replace(cfg.student_train, max_epochs=1)
    cfg = dataclasses.replace(cfg, teacher_train=one, student_train=one)
    res = run_experiment(smoke_prepared[0], cfg, tmp_path, progress=False)
    assert res["models"] == ["teacher", "student", "student_kd", "student_kd_w0.5", "student_kd_selected"]
    by_weight = {0.0: "student", 0.5: "student_kd_w0.5", 1.0: "student_kd"}
    for f in res["folds"]:
        val = {w: f["best_val_ccc"][m] for w, m in by_weight.items()}
        chosen = max(sorted(val), key=lambda w: val[w])  # a plain argmax; ties to the smaller weight
        assert f["kd_selected"]["weight"] == chosen and f["kd_selected"]["model"] == by_weight[chosen]
        assert f["metrics"]["student_kd_selected"] == f["metrics"][by_weight[chosen]]
        assert set(f["ridge"]) == {"ref_ridge_student", "ref_ridge_teacher"}
        for name in ("ref_ridge_student", "ref_ridge_teacher"):
            assert set(f["metrics"][name]) == {"concatenated", "per_trial"}
    assert res["kd_selected_weights"] == [f["kd_selected"]["weight"] for f in res["folds"]]
    assert res["tests"]["student_kd_selected_vs_student"]["n_folds"] == 3
    assert "student_kd_w0.5.ckpt" in {p.name for p in (tmp_path / "folds" / "fold_00").iterdir()}


def test_a_run_split_into_shares_equals_the_whole_run(loso_run, smoke_prepared, tmp_path):
    """--folds: one share writes no results.json; the last share completes it, equal to the run in one go."""
    out, res = loso_run
    share = tmp_path / "run"
    first = run_experiment(smoke_prepared[0], _cfg(), share, n_jobs=2, progress=False, folds=[1])
    assert first["partial"] and first["done"] == [1] and first["missing"] == [0, 2]
    assert not (share / "results.json").exists()
    assert not (share / "folds" / "fold_00").exists()  # only the share's fold was trained
    fold1 = {p: p.stat().st_mtime_ns for p in (share / "folds" / "fold_01").glob("*.pt")}
    whole = run_experiment(smoke_prepared[0], _cfg(), share, n_jobs=2, progress=False, folds=[0, 2])
    assert not whole.get("partial") and _metrics(whole) == _metrics(res)
    assert {p: p.stat().st_mtime_ns for p in fold1} == fold1  # the first share was reused, not retrained
    with pytest.raises(EmokdError, match=r"folds \[7\]: no such fold.*folds 0-2"):
        run_experiment(smoke_prepared[0], _cfg(), tmp_path / "bad", progress=False, folds=[0, 7])


def test_fold_records_from_elsewhere_complete_a_run(loso_run, smoke_prepared, tmp_path):
    """--fold-records: finished folds made in another folder are checked, not rerun, and marked imported."""
    import shutil

    from emokd.evaluation.report import write_report
    from emokd.training.runs import load_run

    out, res = loso_run
    records = tmp_path / "records"
    records.mkdir()
    for n in (0, 2):
        shutil.copyfile(out / "folds" / f"fold_{n:02d}" / "fold.json", records / f"fold_{n:02d}.json")
    here = tmp_path / "run"
    again = run_experiment(smoke_prepared[0], _cfg(), here, n_jobs=2, progress=False, fold_records=records)
    assert _metrics(again) == _metrics(res) and again["imported_folds"] == [0, 2]
    assert sorted(p.name for p in (here / "folds").iterdir()) == ["fold_01"]  # only the unrecorded fold ran
    run = load_run(here)
    assert run.missing_outputs() == []  # the imported folds' files are elsewhere, as results.json says
    md = write_report(here)["markdown"].read_text()
    assert "Folds 0, 2 were computed elsewhere" in md and "predictions_fold_01.png" in md
    assert "predictions_fold_00.png" not in md
    # finished: returned as it is on a rerun with the same records
    before = (here / "results.json").read_bytes()
    run_experiment(smoke_prepared[0], _cfg(), here, n_jobs=1, progress=False, fold_records=records)
    assert (here / "results.json").read_bytes() == before
    # a record of another configuration (seed 1) is refused, naming the file and the change
    with pytest.raises(EmokdError, match=r"fold_00\.json holds a run computed from other inputs.*seed 0 -> 1"):
        run_experiment(smoke_prepared[0], dataclasses.replace(_cfg(), seed=1), tmp_path / "other", progress=False,
                       fold_records=records)
    # a record renamed to another fold's name is refused, naming the field
    shutil.move(records / "fold_02.json", records / "fold_01.json")
    with pytest.raises(EmokdError, match=r"fold_01\.json: field 'fold' is 2"):
        run_experiment(smoke_prepared[0], _cfg(), tmp_path / "renamed", progress=False, fold_records=records)


# -- records and run folders of the older layouts (before emokd-fold/2, emokd-results/2, emokd-run/2) --------

def _to_old_layout(here):
    """Rewrite a finished run folder as emokd wrote it before 2026-12 (independently of the readers): fold
    records without ``format`` whose data id is ``inputs``; results.json ``emokd-results/1`` with ``data`` and
    ``inputs``; the marker ``emokd-run/1`` with ``data``."""
    from emokd.core.fileio import write_json

    for path in sorted(here.glob("folds/fold_*/fold.json")):
        rec = json.loads(path.read_text())
        del rec["format"]
        write_json(path, {("inputs" if k == "data_id" else k): v for k, v in rec.items()})
    res = json.loads((here / "results.json").read_text())
    renamed = {"data_path": "data", "data_fingerprint": "inputs"}
    write_json(here / "results.json", {renamed.get(k, k): v for k, v in res.items()} | {"format": "emokd-results/1"})
    marker = json.loads((here / ".emokd.json").read_text())
    write_json(here / ".emokd.json", {("data" if k == "data_fingerprint" else k): v for k, v in marker.items()}
               | {"format": "emokd-run/1"})


def test_a_run_folder_of_the_older_layout_resumes(loso_run, smoke_prepared, tmp_path):
    """A finished run of the older layout is returned as it is; its fold records, without results.json, are
    reused (nothing retrained) and give the same results."""
    import shutil

    out, res = loso_run
    here = tmp_path / "run"
    shutil.copytree(out, here, ignore=shutil.ignore_patterns(".emokd.lock"))
    _to_old_layout(here)
    before = (here / "results.json").read_bytes()
    done = run_experiment(smoke_prepared[0], _cfg(), here, progress=False)
    assert (here / "results.json").read_bytes() == before  # finished: read as it is, not recomputed
    assert done["format"] == "emokd-results/2" and done["data_fingerprint"] == res["data_fingerprint"]
    assert json.loads((here / ".emokd.json").read_text())["format"] == "emokd-run/2"
    (here / "results.json").unlink()
    models = {p: p.stat().st_mtime_ns for p in here.glob("folds/fold_*/*.pt")}
    again = run_experiment(smoke_prepared[0], _cfg(), here, progress=False)
    assert {p: p.stat().st_mtime_ns for p in models} == models  # every fold reused from its old record
    assert _metrics(again) == _metrics(res) and again["data_fingerprint"] == res["data_fingerprint"]
    assert "inputs" not in again and all(set(f).isdisjoint({"inputs", "data_id", "format"}) for f in again["folds"])


def test_fold_records_of_the_older_layout_complete_a_run(loso_run, smoke_prepared, tmp_path):
    """--fold-records written before emokd-fold/2 (``inputs``, no ``format``) are recognised as this run's."""
    from emokd.core.fileio import write_json

    out, res = loso_run
    records = tmp_path / "records"
    records.mkdir()
    for n in (0, 1, 2):
        rec = json.loads((out / "folds" / f"fold_{n:02d}" / "fold.json").read_text())
        del rec["format"]
        write_json(records / f"fold_{n:02d}.json", {("inputs" if k == "data_id" else k): v for k, v in rec.items()})
    again = run_experiment(smoke_prepared[0], _cfg(), tmp_path / "run", progress=False, fold_records=records)
    assert again["imported_folds"] == [0, 1, 2] and _metrics(again) == _metrics(res)
    assert not (tmp_path / "run" / "folds").exists()  # nothing was trained


#: the options of the runs of studies/teacher_pays.py (its study_runs()) whose fold records are committed; the
#: study resumes them with ``emokd run ... --fold-records results/teacher-pays/runs/<name>/folds``
TEACHER_PAYS = {
    "real_seed0_p0.1": "--preset book --normalisation subject --handover output,shuffled,self "
                       "--labelled-fraction 0.1 --protocol loso --seed 0",
    "real_seed0_calibration": "--preset book --handover output,shuffled,self --calibration 0.5 --protocol loso "
                              "--seed 0",
    "real_seed0_p0.25": "--preset book --normalisation subject --handover output,shuffled,self "
                        "--labelled-fraction 0.25 --protocol loso --seed 0",
}


@pytest.mark.parametrize("name", TEACHER_PAYS)
def test_the_committed_study_records_match_the_studys_configuration(name, monkeypatch):
    """The fold records of results/teacher-pays are what a resumed ``emokd run`` of the study takes, not
    refuses: the configuration its options build today is the one they record, their data id is read, their
    compute record is this machine's (CPU)."""
    from pathlib import Path

    from emokd.__main__ import build_parser, experiment_config_from_args
    from emokd.core.config import on_feature_release
    from emokd.evaluation import experiment

    folder = Path(__file__).resolve().parents[2] / "results" / "teacher-pays" / "runs" / name / "folds"
    if not any(folder.glob("fold_*.json")):
        pytest.skip(f"no committed fold records in {folder}")
    finished = folder.parent / "results.json"
    if finished.is_file():  # the command the study ran, as the run's results.json keeps it
        assert TEACHER_PAYS[name] in json.loads(finished.read_text())["study"]["command"]
    args = build_parser().parse_args(["run", *TEACHER_PAYS[name].split(), "--out", "unused"])
    cfg = on_feature_release(experiment_config_from_args(args))  # the study's real data: the feature release
    raw = [json.loads(p.read_text()) for p in folder.glob("fold_*.json")]
    stored = {r.get("data_id", r.get("inputs")) for r in raw}  # "inputs": the records before emokd-fold/2
    assert len(stored) == 1  # one data set
    # the data are not here: their fingerprint's short id stands in for it
    monkeypatch.setattr(experiment, "fingerprint_id", lambda data: stored.copy().pop())
    records = experiment.read_fold_records(folder, cfg, {})
    assert sorted(records) == sorted(int(p.stem[5:]) for p in folder.glob("fold_*.json"))
    assert all(r["data_id"] == next(iter(stored)) for r in records.values())


# ------------------------------------------------------------------ the controls of issue 34


def _one_epoch(**fields):
    cfg = _cfg(**fields)
    one = dataclasses.replace(cfg.student_train, max_epochs=1)
    return dataclasses.replace(cfg, teacher_train=one, student_train=one)


def _spy(monkeypatch, target: str) -> list:
    """Record the trials (first argument) every call of ``target`` (module.name) gets; the call goes on."""
    import importlib

    module, name = target.rsplit(".", 1)
    mod = importlib.import_module(module)
    real, seen = getattr(mod, name), []

    def spy(trials, *args, **kwargs):
        seen.append(trials)
        return real(trials, *args, **kwargs)

    monkeypatch.setattr(mod, name, spy)
    return seen


@pytest.mark.slow
def test_a_feature_subset_run_gives_its_student_and_ridge_exactly_those_columns(smoke_prepared, tmp_path,
                                                                                 monkeypatch):
    """--eeg-bands beta,gamma --drop-channels Fp1,T8: every fold's student inputs and the ridge reference's are
    the plain numpy selection of the loaded trials' columns; the student has that many inputs; the config and
    the report say so; saliency (band x channel maps) is refused in one line."""
    from emokd.core.constants import EEG_CHANNELS
    from emokd.evaluation.report import markdown_table
    from emokd.saliency.run import compute_run_saliency

    folds_saw = _spy(monkeypatch, "emokd.training.fold.fold_inputs")
    ridge_saw = _spy(monkeypatch, "emokd.evaluation.experiment.reference_metrics")
    cfg = _one_epoch(eeg_bands=("beta", "gamma"), drop_channels=("Fp1", "T8"))
    res = run_experiment(smoke_prepared[0], cfg, tmp_path, progress=False)
    raw = load_trials(smoke_prepared[0], frames=False, unlabelled=True)
    keep = np.array([c not in ("Fp1", "T8") for c in EEG_CHANNELS])
    want = {k: t["x"].reshape(len(t["x"]), 6, 32)[:, [4, 5]][:, :, keep].reshape(len(t["x"]), -1)
            for k, t in raw.items()}
    assert len(folds_saw) == 3 and len(ridge_saw) == 3
    for trials in folds_saw + ridge_saw:
        assert set(trials) == set(raw)
        for k, t in trials.items():
            np.testing.assert_array_equal(t["x"], want[k])
            np.testing.assert_array_equal(t["valence"], raw[k]["valence"])
    stored = json.loads((tmp_path / "results.json").read_text())["config"]
    assert stored["eeg_bands"] == ["beta", "gamma"] and stored["drop_channels"] == ["Fp1", "T8"]
    assert stored["student"]["n_inputs"] == 60 and "permute_labels" not in stored
    for name in ("student", "student_kd"):
        saved = load_model(tmp_path / "folds" / "fold_00" / f"{name}.pt")
        assert saved.config.n_inputs == 60 and saved.model.n_inputs == 60
    assert "Controls: the student and ref_ridge_student read the bands beta, gamma without the channels Fp1, T8 " \
           "(60 features)." in markdown_table(res)
    with pytest.raises(EmokdError, match=r"its students read a subset of the EEG features \(eeg_bands=\('beta', "
                                         r"'gamma'\), drop_channels=\('Fp1', 'T8'\)\); saliency maps every band"):
        compute_run_saliency(tmp_path, write=False)


@pytest.mark.slow
def test_permuted_labels_are_what_every_model_and_score_reads(smoke_prepared, tmp_path, monkeypatch):
    """--permute-labels: the folds, the references and the saved test labels are the permuted traces (those of
    emokd.training.folddata.permute_trial_labels), every subject's own; the inputs are untouched."""
    from emokd.core.metrics import fold_metrics
    from emokd.evaluation.report import markdown_table
    from emokd.training.folddata import permute_trial_labels

    raw = load_trials(smoke_prepared[0], frames=False, unlabelled=True)
    seed = next(s for s in range(20) if any(not np.array_equal(t["valence"], raw[k]["valence"])
                                            for k, t in permute_trial_labels(raw, s).items()))
    moved = permute_trial_labels(raw, seed)
    folds_saw = _spy(monkeypatch, "emokd.training.fold.fold_inputs")
    ridge_saw = _spy(monkeypatch, "emokd.evaluation.experiment.reference_metrics")
    res = run_experiment(smoke_prepared[0], _one_epoch(permute_labels=seed), tmp_path, progress=False)
    for trials in folds_saw + ridge_saw:
        for k, t in trials.items():
            np.testing.assert_array_equal(t["valence"], moved[k]["valence"])
            np.testing.assert_array_equal(t["x"], raw[k]["x"])
            np.testing.assert_array_equal(t["latent"], raw[k]["latent"])  # the latent stays the trial's own
    for f in res["folds"]:
        saved = np.load(tmp_path / f["predictions"])
        for k in f["test"]["trials"]:
            np.testing.assert_array_equal(saved[f"{k}__true"], moved[k]["valence"])
        # the oracle reference reads the test labels: the permuted ones
        y = {k: moved[k]["valence"] for k in f["test"]["trials"]}
        oracle = fold_metrics({k: (v, np.full(len(v), v.astype(np.float64).mean(), np.float32)) for k, v in y.items()})
        assert f["metrics"]["ref_trial_mean_oracle"]["concatenated"]["ccc"] == pytest.approx(
            oracle["concatenated"]["ccc"])
    assert res["config"]["permute_labels"] == seed and res["config"]["student"]["n_inputs"] == 192
    assert f"labels permuted among each subject's trials (seed {seed})" in markdown_table(res)
