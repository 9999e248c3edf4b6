"""Run folders: resume knows its data, a folder is emokd's or refused, one run at a time, unique temp names."""

import dataclasses
import json
import shutil
import subprocess
import sys
import threading

import numpy as np
import pytest

from emokd.core.config import experiment_config
from emokd.errors import EmokdError
from emokd.evaluation.experiment import run_experiment
from emokd.core.fileio import write_json


def _cfg(**kw):
    cfg = experiment_config("smoke", "loso", seed=0, **kw)
    fast = dataclasses.replace(cfg.student_train, max_epochs=1)
    return dataclasses.replace(cfg, teacher_train=fast, student_train=fast)


def _metrics(res):
    return json.dumps([f["metrics"] for f in res["folds"]], sort_keys=True)


@pytest.mark.slow
def test_rerun_on_changed_data_is_refused_and_fresh_recomputes(smoke_prepared, tmp_path):
    data, out = tmp_path / "prepared", tmp_path / "run"
    shutil.copytree(smoke_prepared[0], data)
    first = run_experiment(data, _cfg(), out, n_jobs=2, progress=False)
    # one trial "repaired" in place: same file name, same shapes, other contents
    key = sorted(json.loads((data / "manifest.json").read_text())["trials"])[0]
    with np.load(data / f"{key}.npz") as f:
        arrays = {k: f[k] for k in f.files}
    arrays["valence"] = (arrays["valence"] * 0.5).astype(np.float32)
    np.savez(data / f"{key}.npz", **arrays)
    with pytest.raises(EmokdError, match=rf"data: trials with other contents: {key}\).*--fresh"):
        run_experiment(data, _cfg(), out, n_jobs=2, progress=False)
    # an interrupted run (no results.json yet) is refused too: its folds came from the old data
    (out / "results.json").unlink()
    with pytest.raises(EmokdError, match=rf"other contents: {key}"):
        run_experiment(data, _cfg(), out, n_jobs=2, progress=False)
    again = run_experiment(data, _cfg(), out, n_jobs=2, progress=False, resume=False)
    assert first["data_fingerprint"]["kind"] == "prepared" and len(first["data_fingerprint"]["trials"]) == 6
    assert again["data_fingerprint"]["trials"][key] != first["data_fingerprint"]["trials"][key]
    assert _metrics(again) != _metrics(first)
    # and that run, on the repaired data, now resumes as it is
    assert run_experiment(data, _cfg(), out, n_jobs=2, progress=False)["runtime_s"] == again["runtime_s"]


def test_folder_with_files_emokd_did_not_write_is_refused(smoke_prepared, tmp_path):
    out = tmp_path / "mine"
    (out / "figures").mkdir(parents=True)
    (out / "figures" / "plot.png").write_bytes(b"my figure")
    (out / "results.json").write_text('{"my": "results"}')
    with pytest.raises(EmokdError, match=r"mine: holds files emokd did not write \(figures, results.json\)"):
        run_experiment(smoke_prepared[0], _cfg(), out, progress=False)
    assert (out / "results.json").read_text() == '{"my": "results"}'
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == ["figures", "results.json"]
    assert not (out / "folds").exists()


_HOLD = """
import fcntl, os, sys, time
f = open(sys.argv[1], "a+")
fcntl.flock(f.fileno(), fcntl.LOCK_EX)
f.seek(0); f.truncate(); f.write(str(os.getpid())); f.flush()
print("held", flush=True)
time.sleep(60)
"""


def test_second_run_into_a_locked_folder_stops_at_once(smoke_prepared, tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    holder = subprocess.Popen([sys.executable, "-c", _HOLD, str(out / ".emokd.lock")], stdout=subprocess.PIPE,
                              text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(EmokdError, match=rf"another emokd run \(pid {holder.pid}\) is using {out}"):
            run_experiment(smoke_prepared[0], _cfg(), out, progress=False)
        assert not (out / "folds").exists()
    finally:
        holder.kill()
        holder.wait()


def test_concurrent_writers_of_one_file_never_share_a_temporary_name(tmp_path):
    """Two writers of the same JSON file (two runs, or two threads): each rename finds its own file."""
    path, errors = tmp_path / "fold.json", []

    def writer(n):
        try:
            for i in range(300):
                write_json(path, {"writer": n, "i": i})
        except OSError as err:
            errors.append(err)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert json.loads(path.read_text())["i"] == 299
    assert not list(tmp_path.glob("*.tmp"))


def _old_run(out, protocol="trs", n_folds=5):
    """A finished emokd run folder as a run, its report and its saliency leave it, plus the user's own files."""
    from emokd.training.runfolder import FORMAT, MARKER

    (out / "figures").mkdir(parents=True)
    write_json(out / MARKER, {"format": FORMAT, "config": {"protocol": protocol}})
    write_json(out / "results.json", {"format": "emokd-results/2", "config": {"protocol": protocol}})
    for name in ("results.md", "results.csv", "saliency.json", "figures/fold_ccc.png", "notes.txt",
                 "figures/my_plot.png"):
        (out / name).write_text("old")
    for n in range(n_folds):
        (out / "folds" / f"fold_{n:02d}").mkdir(parents=True)
        (out / "folds" / f"fold_{n:02d}" / "student.pt").write_bytes(b"old")
        (out / "figures" / f"predictions_fold_{n:02d}.png").write_text("old")
    (out / "folds" / "README").write_text("mine")


def test_fresh_removes_the_old_runs_outputs_and_leaves_other_files(tmp_path):
    from emokd.training.runfolder import claim, read_marker

    out = tmp_path / "run"
    _old_run(out)  # a 5-fold TRS run; the fresh run is a 3-fold LOSO one
    assert claim(out, fresh=True) == {"format": "emokd-run/2"}
    left = sorted(str(p.relative_to(out)) for p in out.rglob("*"))
    assert left == [".emokd.json", "figures", "figures/my_plot.png", "folds", "folds/README", "notes.txt"]
    assert read_marker(out) == {"format": "emokd-run/2"}


@pytest.mark.slow
def test_fresh_run_of_one_fold_leaves_no_old_results_to_combine_with_it(smoke_prepared, tmp_path):
    from emokd.training.runs import load_run, predictions_sha256

    out = tmp_path / "run"
    _old_run(out, protocol="loso", n_folds=3)
    res = run_experiment(smoke_prepared[0], _cfg(), out, progress=False, resume=False, folds=[0])
    assert res["partial"] and res["done"] == [0]
    assert not (out / "results.json").exists() and sorted(p.name for p in (out / "folds").iterdir()) == [
        "README", "fold_00"]
    with pytest.raises(EmokdError, match="results.json: no results file"):
        load_run(out)
    # the fold records its predictions' SHA-256, which ties the file to its metrics (emokd.training.runs)
    fold = json.loads((out / "folds" / "fold_00" / "fold.json").read_text())
    with np.load(out / "folds" / "fold_00" / "predictions.npz") as npz:
        assert fold["predictions_sha256"] == predictions_sha256({k: npz[k] for k in npz.files})


def test_fresh_into_a_folder_with_the_users_results_json_is_refused(smoke_prepared, tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "results.json").write_text('{"my": "results"}')
    (out / "notes.txt").write_text("mine")
    with pytest.raises(EmokdError, match=r"mine: --fresh would overwrite results.json, which emokd did not "
                                         r"write; move them away or choose another --out"):
        run_experiment(smoke_prepared[0], _cfg(), out, progress=False, resume=False)
    assert (out / "results.json").read_text() == '{"my": "results"}'
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt", "results.json"]  # no marker, no lock file


def test_a_refused_run_leaves_nothing_in_the_folder(smoke_prepared, tmp_path, capsys):
    from emokd.__main__ import main

    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(EmokdError, match="holds files emokd did not write"):
        run_experiment(smoke_prepared[0], _cfg(), out, progress=False)
    assert main(["run", "--preset", "smoke", "--data", str(smoke_prepared[0]), "--out", str(out)]) == 2
    assert "holds files emokd did not write (notes.txt)" in capsys.readouterr().err
    assert [p.name for p in out.iterdir()] == ["notes.txt"]  # no .emokd.lock


def test_fold_records_without_metrics_or_none_at_all_are_refused(tmp_path):
    from emokd.evaluation.experiment import read_fold_records
    from emokd.training.fold import as_json
    from emokd.training.runfolder import fingerprint_id

    cfg, data = _cfg(), {"kind": "prepared", "trials": {}}
    records = tmp_path / "records"
    records.mkdir()
    with pytest.raises(EmokdError, match=r"fold records .*records: no fold_XX.json in it"):
        read_fold_records(records, cfg, data)
    rec = {"format": "emokd-fold/2", "fold": 0, "config": as_json(cfg), "data_id": fingerprint_id(data)}  # no "metrics"
    write_json(records / "fold_00.json", rec)
    with pytest.raises(EmokdError, match=r"fold_00.json: metrics.teacher.concatenated.rmse must be a number, "
                                         r"got None"):
        read_fold_records(records, cfg, data)
    metric = {s: {"rmse": 0.1, "pcc": 0.5, "ccc": 0.4} for s in ("concatenated", "per_trial")}
    write_json(records / "fold_00.json", {**rec, "metrics": {"teacher": metric, "student": metric}})
    with pytest.raises(EmokdError, match=r"fold_00.json: metrics.student_kd.concatenated.rmse must be a number, "
                                         r"got None"):
        read_fold_records(records, cfg, data)
