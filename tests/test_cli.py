"""The command line: help, an end-to-end smoke run, and one-line errors."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from emokd.__main__ import main

ROOT = Path(__file__).resolve().parents[1]


HELP = [["--help"], ["synth", "--help"], ["prepare", "--help"], ["run", "--help"], ["report", "--help"],
        ["saliency", "--help"], ["pretrain-face", "--help"]]


@pytest.mark.slow
@pytest.mark.parametrize("args", HELP)
def test_help(args):
    result = subprocess.run([sys.executable, "-m", "emokd", *args], capture_output=True, text=True)
    assert result.returncode == 0 and "usage: python -m emokd" in result.stdout


@pytest.mark.parametrize("args", HELP, ids=lambda a: a[0])
def test_help_in_process(args, capsys):
    with pytest.raises(SystemExit) as stop:
        main(args)
    out = capsys.readouterr().out
    assert stop.value.code == 0 and out.startswith("usage: python -m emokd")
    command = args[0] if args[0] != "--help" else ""
    assert f"usage: python -m emokd {command}".rstrip() in out
    if command == "saliency":
        assert "--methods" in out and "integrated_gradients" in out and "saliency.json" in out


def test_version(capsys, monkeypatch):
    import importlib.metadata

    import emokd

    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0
    assert capsys.readouterr().out.strip() == f"emokd {importlib.metadata.version('emokd')}"
    assert importlib.metadata.version("emokd") == emokd.__version__  # pyproject reads the version from emokd

    def not_installed(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "version", not_installed)  # run from a source tree
    monkeypatch.setattr(emokd, "__version__", "9.8.7")
    with pytest.raises(SystemExit):
        main(["--version"])
    assert capsys.readouterr().out.strip() == "emokd 9.8.7"


def test_verbose_shows_progress_messages(tmp_path, caplog, monkeypatch):
    """INFO messages of emokd's loggers appear with --verbose only; main() leaves logging as it found it."""
    import logging

    from emokd import LOG_LEVEL_ENV

    monkeypatch.delenv(LOG_LEVEL_ENV, raising=False)
    seen = {}

    def fake_generate(out, cfg, *, seed, n_jobs=1):  # the real one, minus the seconds of writing files
        seen["env"] = os.environ.get(LOG_LEVEL_ENV)  # what a fold's worker process would inherit
        logging.getLogger("emokd.synth.synthetic").info("wrote 6 synthetic trials to %s", out)
        return {"trials": [0] * 6, "truth_map": np.ones((6, 32)), "band_names": list("abcdef")}

    monkeypatch.setattr("emokd.synth.synthetic.generate", fake_generate)
    before = logging.getLogger("emokd").level
    assert main(["synth", "--preset", "smoke", "--out", str(tmp_path / "a")]) == 0
    assert seen["env"] is None and not [r for r in caplog.records if r.name.startswith("emokd")]
    assert main(["--verbose", "synth", "--preset", "smoke", "--out", str(tmp_path / "b")]) == 0
    assert seen["env"] == "INFO"
    assert [r.getMessage() for r in caplog.records if r.name == "emokd.synth.synthetic"] == [
        f"wrote 6 synthetic trials to {tmp_path / 'b'}"]
    assert logging.getLogger("emokd").level == before and LOG_LEVEL_ENV not in os.environ


def test_log_level_from_the_environment_in_a_new_process():
    """How a fold's worker process (joblib starts a fresh interpreter) gets --verbose: EMOKD_LOG_LEVEL."""
    code = "import logging, emokd; logging.getLogger('emokd.evaluation.experiment').info('fold 0: already done')"
    env = dict(os.environ, PYTHONPATH=str(ROOT), EMOKD_LOG_LEVEL="INFO")
    shown = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert shown.stderr.strip() == "INFO emokd.evaluation.experiment: fold 0: already done"
    env.pop("EMOKD_LOG_LEVEL")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env).stderr == ""
    env["EMOKD_LOG_LEVEL"] = "chatty"
    typo = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert typo.returncode == 0 and "EMOKD_LOG_LEVEL='chatty' is not a logging level" in typo.stderr


@pytest.mark.slow
def test_synth_and_prepare_smoke(tmp_path, capsys):
    out = tmp_path / "data"
    assert main(["synth", "--preset", "smoke", "--seed", "5", "--out", str(out)]) == 0
    assert "wrote 6 trials of 3 subjects" in capsys.readouterr().out
    assert main(["prepare", str(out), "--quiet"]) == 0
    text = capsys.readouterr().out
    assert "prepared 6 trials of 3 subjects" in text and "(0 already prepared, 0 failed)" in text
    assert len(json.loads((out / "prepared" / "manifest.json").read_text())["trials"]) == 6


@pytest.mark.slow
def test_synth_planted_options(tmp_path, capsys):
    out = tmp_path / "data"
    args = ["synth", "--preset", "smoke", "--out", str(out), "--planted-bands", "8-12",
            "--planted-channels", "Fp1,Fp2", "--eeg-gain", "1.2", "--emg-leakage", "0.5"]
    assert main(args) == 0
    truth = json.loads((out / "ground_truth.json").read_text())
    assert truth["config"]["pattern"] == [{"lo_hz": 8.0, "hi_hz": 12.0, "channels": ["Fp1", "Fp2"], "weight": 1.0}]
    assert truth["config"]["eeg_gain"] == 1.2 and truth["config"]["emg_leakage"] == 0.5
    alpha = truth["truth_map"][2]
    assert [c for c, w in zip(truth["channels"], alpha) if w > 0] == ["Fp1", "Fp2"]


@pytest.mark.slow
def test_synth_annotation_options(tmp_path, capsys):
    from emokd.io.mahnob import LABEL_FILE, read_labels, read_latent

    out = tmp_path / "data"
    args = ["synth", "--preset", "smoke", "--out", str(out), "--annotation-lag-s", "1.5", "--annotation-noise-sd",
            "0.5", "--annotation-noise-tau-s", "3", "--n-raters", "2", "--face-private-sd", "0.25",
            "--face-private-tau-s", "8"]
    assert main(args) == 0
    truth = json.loads((out / "ground_truth.json").read_text())
    assert {k: truth["config"][k] for k in ("annotation_lag_s", "annotation_noise_sd", "annotation_noise_tau_s",
                                            "n_raters", "face_private_sd", "face_private_tau_s")} == {
        "annotation_lag_s": 1.5, "annotation_noise_sd": 0.5, "annotation_noise_tau_s": 3.0, "n_raters": 2,
        "face_private_sd": 0.25, "face_private_tau_s": 8.0}
    labels, latent = read_labels(out / LABEL_FILE), read_latent(out)
    assert set(labels) == set(latent) and not any(np.array_equal(labels[k], latent[k]) for k in labels)


BAD_ARGUMENTS = [
    (["synth", "--preset", "huge", "--out", "x"], "invalid choice: 'huge'"),
    (["synth", "--out", "x", "--n-raters", "0"], "n_raters=0: need a whole number >= 1"),
    (["synth", "--out", "x", "--annotation-noise-sd", "-1"], "annotation_noise_sd=-1.0: need >= 0"),
    (["synth", "--out", "x", "--planted-bands", "alpha"], "bands must look like '18-30,30-45'"),
    (["synth", "--out", "x", "--planted-channels", "Fp1,Q7"], "unknown channel(s) ['Q7']"),
    (["synth", "--out", "x", "--planted-bands", "30-300"], "planted band 30-300 Hz"),
    (["synth", "--out", "x", "--n-jobs", "-2"], "--n-jobs -2: need >= 1"),
    (["prepare", "/nonexistent/folder"], "lable_continous_Mahnob.mat: label file not found"),
    (["run", "--out", "x", "--protocol", "kfold"], "invalid choice: 'kfold'"),
    (["run", "--out", "x", "--n-jobs", "0"], "--n-jobs 0: need >= 1"),
    (["run", "--out", "x", "--kd-sweep", "a,b"], "expected comma-separated numbers"),
    (["run", "--out", "x", "--data", "/nonexistent/folder"], "--data /nonexistent/folder: no such folder"),
    (["report", "/nonexistent/run"], "/nonexistent/run/results.json"),
    (["run", "--out", "x", "--seed", "-1"], "--seed -1: need >= 0"),
    (["synth", "--out", "x", "--seed", "-1"], "--seed -1: need >= 0"),
    (["run", "--out", "x", "--backend", "bogus"], "--backend bogus: unknown joblib backend"),
    (["run", "--out", "x", "--backend", "dask"], "--backend dask: no running dask.distributed Client"),
    (["run", "--out", "x", "--kd-weight", "nan"], "kd_weight=nan: need a finite number"),
    (["run", "--out", "x", "--kd-sweep", "0.5,inf"], "kd_sweep=(0.5, inf): weights must be finite"),
    (["synth", "--out", "x", "--eeg-gain", "nan"], "eeg_gain=nan: need a finite number"),
    (["synth", "--out", "x", "--nuisance-sd", "-1"], "nuisance_sd=-1.0: need >= 0"),
    (["synth", "--out", "x", "--mixing-width-m", "0"], "mixing_width_m=0.0: need > 0"),
    (["run", "--out", "x", "--labelled-fraction", "0"], "labelled_fraction=0.0: need 0 < fraction <= 1"),
    (["run", "--out", "x", "--labelled-fraction", "nan"], "labelled_fraction=nan: need a finite number"),
    (["run", "--out", "x", "--handover", "output,teacher"], "handover=('output', 'teacher'): choose any of"),
    (["run", "--out", "x", "--calibration", "1"], "calibration=1.0: need 0 <= share < 1"),
    (["run", "--out", "x", "--calibration", "0.5", "--protocol", "trs"], "calibrating to a new person needs LOSO"),
    (["run", "--out", "x", "--eeg-bands", "theta,alfa"], "eeg_bands=('theta', 'alfa'): choose any of delta, theta"),
    (["run", "--out", "x", "--drop-channels", "Fp1,Fpz"], "drop_channels=('Fp1', 'Fpz'): choose any of Fp1, AF3"),
    (["run", "--out", "x", "--permute-labels", "-1"], "permute_labels=-1: need a whole number >= 0"),
    (["run", "--out", "x", "--permute-labels", "one"], "argument --permute-labels: invalid int value: 'one'"),
]


@pytest.mark.slow
@pytest.mark.parametrize("args, message", BAD_ARGUMENTS)
def test_bad_arguments_give_one_line_errors(args, message, tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT))  # importable from another folder even when not installed
    result = subprocess.run([sys.executable, "-m", "emokd", *args], capture_output=True, text=True, cwd=tmp_path,
                            env=env)
    assert result.returncode == 2
    last = result.stderr.strip().splitlines()[-1]
    assert message in last and "Traceback" not in result.stderr
    assert not (tmp_path / "x").exists()  # nothing written for a bad command


def _exit_status(args) -> int:
    """``main(args)`` in this process: its return value, or the status argparse exits with."""
    try:
        return main(args)
    except SystemExit as stop:  # argparse's own errors
        return stop.code


@pytest.mark.parametrize("args, message", BAD_ARGUMENTS)
def test_bad_arguments_in_process(args, message, tmp_path, monkeypatch, capsys):
    """The same without a new interpreter: exit status 2, the message on the last line of stderr."""
    monkeypatch.chdir(tmp_path)
    assert _exit_status(args) == 2
    assert message in capsys.readouterr().err.strip().splitlines()[-1]
    assert not (tmp_path / "x").exists()


#: options a hostile-input probe (issue 31) found accepted, or refused late or without their name; each is
#: refused before any work, in one line naming the option (or its field), the value and the problem
PROBED_OPTIONS = {
    "synth_lag_beyond_the_clips": (["synth", "--preset", "smoke", "--out", "x", "--annotation-lag-s", "1e6"],
                                   "annotation_lag_s=1000000.0: need < 17.5 s, half the shortest clip"),
    "synth_noise_off_the_label_scale": (["synth", "--preset", "smoke", "--out", "x", "--annotation-noise-sd", "1e6"],
                                        "annotation_noise_sd=1000000.0: need a label noise of at most 0.5"),
    "synth_eeg_gain_overflowing": (["synth", "--out", "x", "--eeg-gain", "1e308"],
                                   "eeg_gain=1e+308: need |eeg_gain| <= 5"),
    "synth_mixing_width_underflowing": (["synth", "--out", "x", "--mixing-width-m", "1e-300"],
                                        "mixing_width_m=1e-300: need 0.001 to 1 m"),
    "run_kd_weight_overflowing": (["run", "--out", "x", "--kd-weight", "1e308"],
                                  "kd_weight=1e+308: need 0 <= weight <= 1e+06"),
    "run_kd_select_nan": (["run", "--out", "x", "--kd-select", "0,nan"], "kd_select=(0.0, nan): distinct finite"),
    "run_kd_sweep_twice": (["run", "--out", "x", "--kd-sweep", "0.1,0.1"],
                           "kd_sweep=(0.1, 0.1): two weights would both be model student_kd_w0.1"),
    "run_device_meta": (["run", "--out", "x", "--device", "meta"], "--device meta: choose auto, cpu, cuda, mps or cuda:N"),
    "run_device_xpu": (["run", "--out", "x", "--device", "xpu"], "--device xpu: choose auto, cpu, cuda, mps or cuda:N"),
    "run_n_folds_under_loso": (["run", "--out", "x", "--n-folds", "5"],
                               "--n-folds 5: only --protocol trs has it (LOSO folds are the subjects)"),
    "run_trs_folds_under_loso": (["run", "--out", "x", "--protocol", "loso", "--trs-folds", "contiguous"],
                                 "--trs-folds contiguous: only --protocol trs has it"),
    "pretrain_face_device_meta": (["pretrain-face", "--out", "x/w.pt", "--device", "meta"], "--device meta: choose"),
    "pretrain_face_negative_seed": (["pretrain-face", "--out", "x/w.pt", "--seed", "-5"], "--seed -5: need >= 0"),
    "pretrain_face_out_is_its_card": (["pretrain-face", "--out", "x/w.json"],
                                      ("--out x/w.json: the card w.json written beside the weights would "
                                       "overwrite them; give the weights another suffix, e.g. x/w.pt")),
}


@pytest.mark.parametrize("case", sorted(PROBED_OPTIONS))
def test_probed_options_are_refused_in_one_line_before_any_work(case, tmp_path, monkeypatch, capsys):
    args, message = PROBED_OPTIONS[case]
    monkeypatch.chdir(tmp_path)
    assert _exit_status(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err
    assert not (tmp_path / "x").exists()


def test_pretrain_face_on_cuda_without_cuda_is_one_line(tmp_path, monkeypatch, capsys):
    """It trained on the CPU first and then failed in torch with a traceback."""
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.chdir(tmp_path)
    assert main(["pretrain-face", "--out", "x/w.pt", "--device", "cuda"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["emokd pretrain-face: error: --device cuda: CUDA is not available on this machine (use cpu or auto)"]
    assert not (tmp_path / "x").exists()


@pytest.mark.slow
def test_run_and_report_smoke_end_to_end(tmp_path):
    """The issue's command, as a user types it (one epoch per model to keep tests fast)."""
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "emokd", "run", "--preset", "smoke", "--protocol", "loso", "--seed", "0",
           "--n-jobs", "2", "--out", str(out), "--max-epochs", "1", "--kd-sweep", "0.5", "--quiet"]
    result = subprocess.run(cmd, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "| student_kd |" in result.stdout and "3 LOSO folds" in result.stdout
    res = json.loads((out / "results.json").read_text())
    assert res["models"] == ["teacher", "student", "student_kd", "student_kd_w0.5"]
    assert res["config"]["teacher_train"]["max_epochs"] == 1
    assert (out / "data" / "ground_truth.json").exists()  # the synthetic data was generated
    for name in ("results.md", "results.csv", "figures/fold_ccc.png", "figures/predictions_fold_00.png"):
        assert (out / name).stat().st_size > 0
    (out / "results.md").unlink()
    report = subprocess.run([sys.executable, "-m", "emokd", "report", str(out)], capture_output=True, text=True)
    assert report.returncode == 0 and (out / "results.md").exists()
    assert "| teacher |" in report.stdout
    # the folder now holds this run: another configuration is refused before any work, naming the change,
    # and the run's data (OUT/data, seed 0) and results stay as they are
    before = (out / "results.json").read_bytes()
    for extra, change in ((["--seed", "1"], "seed 0 -> 1"), (["--protocol", "trs"], "protocol 'loso' -> 'trs'")):
        other = [*cmd, *extra]
        again = subprocess.run(other, capture_output=True, text=True)
        assert again.returncode == 2 and "Traceback" not in again.stderr, again.stderr
        last = again.stderr.strip().splitlines()[-1]
        assert change in last and "--fresh" in last
    assert (out / "results.json").read_bytes() == before
    assert json.loads((out / "data" / "ground_truth.json").read_text())["seed"] == 0
    # report and saliency with --out only read the run folder (a finished run on a read-only share)
    snapshot = {p: p.stat().st_mtime_ns for p in out.rglob("*")}
    report = subprocess.run([sys.executable, "-m", "emokd", "report", str(out), "--out", str(tmp_path / "rep")],
                            capture_output=True, text=True)
    assert report.returncode == 0, report.stderr
    assert (tmp_path / "rep" / "results.md").is_file() and (tmp_path / "rep" / "figures" / "fold_ccc.png").is_file()
    sal = subprocess.run([sys.executable, "-m", "emokd", "saliency", str(out), "--out", str(tmp_path / "sal"),
                          "--methods", "gradient", "--models", "student"], capture_output=True, text=True)
    assert sal.returncode == 0, sal.stderr
    assert json.loads((tmp_path / "sal" / "saliency.json").read_text())["methods"] == ["gradient"]
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*")} == snapshot
    # an output folder that cannot be written is refused before any work, in one line
    (tmp_path / "afile").write_text("")
    bad = subprocess.run([sys.executable, "-m", "emokd", "report", str(out), "--out", str(tmp_path / "afile")],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert "--out" in bad.stderr.strip().splitlines()[-1] and "not a writable folder" in bad.stderr


@pytest.mark.slow
def test_run_refuses_a_folder_with_files_emokd_did_not_write(tmp_path):
    out = tmp_path / "mine"
    (out / "figures").mkdir(parents=True)
    (out / "results.json").write_text("{}")
    cmd = [sys.executable, "-m", "emokd", "run", "--preset", "smoke", "--out", str(out), "--max-epochs", "1",
           "--quiet"]
    result = subprocess.run(cmd, capture_output=True, text=True)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert "holds files emokd did not write (figures, results.json)" in result.stderr.strip().splitlines()[-1]
    assert (out / "results.json").read_text() == "{}" and not (out / "data").exists()


def test_unavailable_device_is_refused_before_any_work(tmp_path, monkeypatch, capsys):
    """On every machine: CUDA and MPS are made unavailable (this test used to be skipped where CUDA is)."""
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    monkeypatch.chdir(tmp_path)
    for device, message in (("cuda", "--device cuda: CUDA is not available"),
                            ("cuda:1", "--device cuda:1: CUDA is not available"),
                            ("mps", "--device mps: Apple MPS is not available")):
        assert main(["run", "--out", "x", "--device", device]) == 2
        assert message in capsys.readouterr().err.strip().splitlines()[-1]
    assert not (tmp_path / "x").exists()
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert main(["run", "--out", "x", "--device", "cuda:1"]) == 2
    assert "--device cuda:1: this machine has 1 CUDA device(s)" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


@pytest.mark.slow
def test_system_failures_give_one_line(smoke_dir, tmp_path):
    """An output path under a file (checked first), or one that is a file (an OSError from the work itself)."""
    (tmp_path / "file").write_text("not a folder")
    run = subprocess.run([sys.executable, "-m", "emokd", "run", "--out", str(tmp_path / "file" / "run")],
                         capture_output=True, text=True)
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert f"{tmp_path / 'file'} is a file, not a folder" in run.stderr.strip().splitlines()[-1]
    prep = subprocess.run([sys.executable, "-m", "emokd", "prepare", str(smoke_dir), "--out", str(tmp_path / "file"),
                           "--quiet"], capture_output=True, text=True)
    assert prep.returncode == 2 and "Traceback" not in prep.stderr, prep.stderr
    assert prep.stderr.strip().splitlines()[-1] == f"emokd prepare: error: {tmp_path / 'file'}: File exists"


def test_run_options_become_config_fields(tmp_path):
    from emokd.__main__ import experiment_config_from_args, build_parser

    args = build_parser().parse_args(["run", "--preset", "paper", "--protocol", "trs", "--out", str(tmp_path),
                                 "--normalisation", "subject", "--face-normalisation", "subject",
                                 "--kd-select", "0,0.3,1", "--trs-folds", "contiguous"])
    cfg = experiment_config_from_args(args)
    assert (cfg.normalisation, cfg.face_normalisation, cfg.trs_folds) == ("subject", "subject", "contiguous")
    assert cfg.kd_select == (0.0, 0.3, 1.0) and cfg.face_teacher_max_epochs == 30
    assert cfg.student_train.reload_best_each_epoch and cfg.student_train.max_epochs == 15
    book = experiment_config_from_args(build_parser().parse_args(["run", "--out", str(tmp_path)]))
    from emokd.core.config import experiment_config

    assert book == experiment_config("book", "loso", 0)  # no option given: today's book run
    short = experiment_config_from_args(build_parser().parse_args(["run", "--preset", "paper", "--out", str(tmp_path),
                                                     "--max-epochs", "2"]))
    assert short.face_teacher_max_epochs == short.student_train.max_epochs == short.teacher_train.max_epochs == 2


@pytest.mark.slow
def test_verbose_run_shows_reused_folds_also_from_worker_processes(tmp_path):
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "emokd", "--verbose", "run", "--preset", "smoke", "--n-jobs", "2", "--out", str(out),
           "--max-epochs", "1", "--quiet"]
    first = subprocess.run(cmd, capture_output=True, text=True)
    assert first.returncode == 0, first.stderr
    assert "INFO emokd.synth.synthetic: wrote 6 synthetic trials" in first.stderr
    assert "INFO emokd.evaluation.experiment: loso: 3 folds, n_jobs=2" in first.stderr
    (out / "results.json").unlink()  # the folds are reused, each in a worker process
    again = subprocess.run(cmd, capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    assert all(f"INFO emokd.training.fold: fold {k}: already done" in again.stderr for k in range(3)), again.stderr


def test_fold_numbers_and_ranges_round_trip():
    import argparse

    from emokd.__main__ import fold_numbers, fold_ranges

    assert fold_numbers("0-3,7, 9-10") == (0, 1, 2, 3, 7, 9, 10)
    assert fold_numbers("5,5,2") == (2, 5)
    assert fold_ranges([0, 1, 2, 3, 7, 9, 10]) == "0-3,7,9-10"
    assert fold_numbers(fold_ranges([4, 0, 2, 3])) == (0, 2, 3, 4)
    for bad in ("3-1", "-2", "a", ",", "1-x"):
        with pytest.raises(argparse.ArgumentTypeError, match="fold numbers"):
            fold_numbers(bad)


@pytest.mark.slow
def test_run_in_shares_and_from_records(smoke_prepared, tmp_path, capsys):
    """--folds writes no results.json until the last share; --fold-records completes a run from records."""
    import shutil

    base = ["run", "--preset", "smoke", "--data", str(smoke_prepared[0]), "--max-epochs", "1", "--quiet"]
    share = tmp_path / "share"
    assert main([*base, "--out", str(share), "--folds", "0"]) == 0
    assert "1 of 3 LOSO folds finished" in capsys.readouterr().out and not (share / "results.json").exists()
    records = tmp_path / "records"
    records.mkdir()
    shutil.copyfile(share / "folds" / "fold_00" / "fold.json", records / "fold_00.json")
    assert main([*base, "--out", str(tmp_path / "rest"), "--fold-records", str(records)]) == 0
    res = json.loads((tmp_path / "rest" / "results.json").read_text())
    assert res["imported_folds"] == [0] and [f["fold"] for f in res["folds"]] == [0, 1, 2]
    assert "3 LOSO folds" in capsys.readouterr().out


def test_run_schedule_options_override_the_students_and_on_the_release_the_teachers():
    from emokd.__main__ import experiment_config_from_args, build_parser
    from emokd.core.config import book_full_pass_schedule, experiment_config, on_feature_release

    book = experiment_config("book")
    args = build_parser().parse_args(["run", "--preset", "book", "--out", "X", "--early-stop", "8",
                                      "--lr-patience", "3", "--epoch-fraction", "1"])
    cfg = experiment_config_from_args(args)
    assert (cfg.student_train.early_stop, cfg.student_train.lr_patience, cfg.student_train.epoch_fraction) == (8, 3, 1)
    assert (book.student_train.early_stop, book.student_train.lr_patience) == (6, 9)
    assert book.student_train.epoch_fraction == 1 / 3
    assert cfg.teacher_train == book.teacher_train  # the frame teacher keeps its budget
    assert on_feature_release(cfg).teacher_train.early_stop == 8
    plain = experiment_config_from_args(build_parser().parse_args(["run", "--preset", "book", "--out", "X"]))
    assert plain == book
    # the schedule of the book runs made before 2026-12-03, on the feature release, from options alone
    v1 = experiment_config_from_args(build_parser().parse_args(["run", "--preset", "book", "--out", "X",
                                                                "--max-epochs", "40", "--early-stop", "8",
                                                                "--lr-patience", "3", "--epoch-fraction", "1"]))
    assert on_feature_release(v1) == on_feature_release(book_full_pass_schedule(book))
    assert v1.face_teacher_max_epochs is None  # the book's face teacher trains with the students' budget
    paper = experiment_config_from_args(build_parser().parse_args(["run", "--preset", "paper", "--out", "X",
                                                                   "--max-epochs", "5"]))
    assert paper.face_teacher_max_epochs == 5  # the paper preset's face teacher has its own budget: overridden


def test_disk_full_names_the_file_that_could_not_be_written(tmp_path, monkeypatch, capsys):
    import errno

    import emokd.__main__ as cli
    from emokd.core.fileio import atomic_open

    def fill_the_disk(args):
        with atomic_open(tmp_path / "results.json", "w") as f:
            f.write('{"half')
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))  # what write() raises: no file named

    monkeypatch.setattr(cli, "_synth", fill_the_disk)
    assert main(["synth", "--out", str(tmp_path / "x")]) == 2
    assert capsys.readouterr().err.strip() == f"emokd synth: error: {tmp_path / 'results.json'}: disk full"
    assert list(tmp_path.iterdir()) == []  # nothing half-written


def test_saliency_on_an_unavailable_device_says_so(tmp_path, monkeypatch, capsys):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    assert main(["saliency", str(run_dir), "--device", "cuda"]) == 2
    assert capsys.readouterr().err.strip() == ("emokd saliency: error: --device cuda: CUDA is not available on "
                                               "this machine (use cpu or auto)")
    assert list(run_dir.iterdir()) == []


def test_sigterm_stops_like_ctrl_c_with_one_line(tmp_path, monkeypatch, capsys):
    import signal
    import time

    import emokd.__main__ as cli
    from emokd.core.fileio import write_text

    def killed_midway(args):
        write_text(tmp_path / "done.txt", "a finished file")
        os.kill(os.getpid(), signal.SIGTERM)  # as `kill PID` or a scheduler's time limit sends it
        time.sleep(5)
        write_text(tmp_path / "never.txt", "")

    handler = signal.getsignal(signal.SIGTERM)
    monkeypatch.setattr(cli, "_synth", killed_midway)
    assert main(["synth", "--out", str(tmp_path / "x")]) == 143
    assert capsys.readouterr().err.strip() == ("emokd synth: terminated by SIGTERM (completed files are kept; "
                                               "rerun to continue)")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["done.txt"]
    assert signal.getsignal(signal.SIGTERM) is handler  # main() leaves the handler as it found it


@pytest.mark.slow
def test_sigterm_during_a_run_keeps_its_files_and_the_rerun_resumes(smoke_prepared, tmp_path):
    import signal
    import time

    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "emokd", "run", "--preset", "smoke", "--data", str(smoke_prepared[0]),
           "--out", str(out), "--n-jobs", "1", "--max-epochs", "6", "--quiet"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not (out / "folds" / "fold_00" / "teacher.log.jsonl").exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143 and "Traceback" not in err, err
    assert err.strip().splitlines()[-1] == ("emokd run: terminated by SIGTERM (completed files are kept; rerun to "
                                            "continue)")
    assert not (out / "results.json").exists()
    assert json.loads((out / ".emokd.json").read_text())["seconds_before"] > 0  # the stopped segment's time
    again = subprocess.run(cmd, capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    assert len(json.loads((out / "results.json").read_text())["folds"]) == 3


def test_an_empty_fold_records_folder_is_refused_before_any_work(tmp_path, capsys):
    (tmp_path / "records").mkdir()
    assert main(["run", "--preset", "smoke", "--out", str(tmp_path / "run"), "--fold-records",
                 str(tmp_path / "records")]) == 2
    assert capsys.readouterr().err.strip() == (f"emokd run: error: fold records {tmp_path / 'records'}: no "
                                               "fold_XX.json in it (copies of a run folder's folds/fold_XX/fold.json)")
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("preset", ["paper", "book"])
def test_student_max_epochs_leaves_the_teacher_alone(preset):
    """--student-max-epochs varies the students' budget only: on face frames and on the feature release
    (where the teacher otherwise trains with the students' settings) the teacher keeps the preset's."""
    from emokd.__main__ import build_parser, experiment_config_from_args
    from emokd.core.config import experiment_config, on_feature_release

    args = build_parser().parse_args(["run", "--out", "x", "--preset", preset, "--student-max-epochs", "240"])
    cfg, base = experiment_config_from_args(args), experiment_config(preset)
    assert cfg.student_train.max_epochs == 240 and cfg.teacher_train == base.teacher_train
    assert on_feature_release(cfg).teacher_train.max_epochs == on_feature_release(base).teacher_train.max_epochs
    assert on_feature_release(cfg).student_train.max_epochs == 240


def test_student_budgets_are_checked_against_the_student_max_epochs_given(capsys):
    """--student-budgets 15,60 with --student-max-epochs 240 (in either order) is the paper preset with those budgets;
    without a larger maximum it is one line naming the field and the bound."""
    from emokd.__main__ import build_parser, experiment_config_from_args, main

    for argv in (["--student-max-epochs", "240", "--student-budgets", "60,15"],
                 ["--student-budgets", "60,15", "--student-max-epochs", "240"]):
        args = build_parser().parse_args(["run", "--out", "x", "--preset", "paper", *argv])
        cfg = experiment_config_from_args(args)
        assert cfg.student_budgets == (15, 60) and cfg.student_train.max_epochs == 240
    assert main(["run", "--out", "x", "--data", "y", "--preset", "paper", "--student-budgets", "15,60"]) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        "emokd run: error: student_budgets=(15, 60): need distinct whole numbers from 1 to the students' "
        "max_epochs - 1 = 14")


#: every option of ``emokd run`` (as of 2026-12: the configuration's options now come from its fields)
RUN_FLAGS = {"--out", "--data", "--n-jobs", "--backend", "--scheduler", "--folds", "--fold-records", "--fresh",
             "--quiet", "--preset", "--protocol", "--seed", "--n-folds", "--teacher-backbone", "--student",
             "--early-stop", "--lr-patience", "--epoch-fraction", "--kd-weight", "--feature-loss", "--kd-sweep",
             "--device", "--trs-folds", "--normalisation", "--face-normalisation", "--kd-select",
             "--labelled-fraction", "--handover", "--calibration", "--eeg-bands", "--drop-channels", "--permute-labels",
             "--student-budgets", "--max-epochs", "--student-max-epochs"}


def _run_parser():
    from emokd.__main__ import build_parser

    sub = next(a for a in build_parser()._actions if a.dest == "command")
    return sub.choices["run"]


def test_run_options_are_the_configs_fields_with_their_help_and_choices(capsys):
    from emokd.core.config import (BACKBONES, FEATURE_LOSSES, NORMALISATIONS, PRESETS, PROTOCOLS, STUDENT_ARCHS,
                                   TRS_FOLDS, run_options)

    actions = {a.option_strings[-1]: a for a in _run_parser()._actions if a.option_strings}
    assert set(actions) - {"--help"} == RUN_FLAGS  # every option kept, none added
    declared = {o.flag: o for o in run_options()}
    assert len(declared) == len(run_options()) and set(declared) <= RUN_FLAGS
    for flag, o in declared.items():
        assert actions[flag].help == o.option.help and actions[flag].choices == o.option.choices
        assert actions[flag].default == o.default and actions[flag].dest == flag[2:].replace("-", "_")
    choices = {flag: a.choices for flag, a in actions.items() if a.choices}
    assert choices == {"--preset": PRESETS, "--protocol": PROTOCOLS, "--teacher-backbone": BACKBONES,
                       "--student": STUDENT_ARCHS, "--feature-loss": FEATURE_LOSSES, "--trs-folds": TRS_FOLDS,
                       "--normalisation": NORMALISATIONS, "--face-normalisation": NORMALISATIONS}
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    out = "".join(capsys.readouterr().out.split())  # argparse wraps lines, also at hyphens
    for flag in RUN_FLAGS:  # listed with its help
        assert flag in out and "".join((actions[flag].help or "").split()) in out


def _synth_parser():
    from emokd.__main__ import build_parser

    sub = next(a for a in build_parser()._actions if a.dest == "command")
    return sub.choices["synth"]


#: the options of `emokd synth` that are not SynthConfig fields (added by hand)
SYNTH_OWN_FLAGS = {"--help", "--preset", "--seed", "--out", "--n-jobs", "--planted-bands", "--planted-channels"}


def test_synth_options_are_the_configs_fields_with_their_help_and_group(capsys):
    from emokd.__main__ import _OPTION_TYPES
    from emokd.core.config import SYNTH_TRUTH_GROUP, synth_options

    parser = _synth_parser()
    group_of = {a: g.title for g in parser._action_groups for a in g._group_actions}
    actions = {a.option_strings[-1]: a for a in parser._actions if a.option_strings}
    declared = {o.flag: o for o in synth_options()}
    assert len(declared) == len(synth_options()) == 15
    assert set(actions) == SYNTH_OWN_FLAGS | set(declared)  # exactly synth_options(), and the own ones
    for flag, o in declared.items():
        a = actions[flag]
        assert (a.dest, a.type, a.default, a.metavar, a.help, a.choices) == (
            o.dest, _OPTION_TYPES[o.type], None, o.option.metavar, o.option.help, None)
        assert group_of[a] == (o.option.group or SYNTH_TRUTH_GROUP)
    assert group_of[actions["--planted-bands"]] == group_of[actions["--eeg-gain"]] == SYNTH_TRUTH_GROUP
    with pytest.raises(SystemExit):
        main(["synth", "--help"])
    out = capsys.readouterr().out
    titles = [SYNTH_TRUTH_GROUP, *dict.fromkeys(o.option.group for o in synth_options() if o.option.group)]
    assert sorted(titles, key=out.index) == titles and len(titles) == 3  # the sections, in this order
    flat = "".join(out.split())  # argparse wraps lines, also at hyphens
    for flag, o in declared.items():  # listed with its help
        assert flag in out and "".join(o.option.help.split()) in flat


def test_synth_options_reach_the_configuration(tmp_path, monkeypatch):
    """Each option sets its field (each to its own value: two options crossed would show), one not given keeps
    the preset's: the configuration generate gets is synth_config's with those fields."""
    from emokd.core.config import synth_config, synth_options

    seen = []

    jobs = []

    def fake_generate(out, cfg, *, seed, n_jobs=1):  # the configuration it would write, not the seconds of writing it
        seen.append(cfg)
        jobs.append(n_jobs)
        return {"trials": [0] * 6, "truth_map": np.ones((6, 32)), "band_names": list("abcdef")}

    monkeypatch.setattr("emokd.synth.synthetic.generate", fake_generate)
    given, argv = {}, []
    for i, o in enumerate(synth_options(), start=1):  # a valid value apart from the default and from the others
        given[o.dest] = o.field_default + i if o.type == "int" else round(o.field_default + 0.01 * i, 6)
        argv += [o.flag, str(given[o.dest])]
    assert main(["synth", "--preset", "smoke", "--out", str(tmp_path / "all"), *argv]) == 0
    assert seen.pop() == synth_config("smoke", **given)
    for o in synth_options():  # one at a time
        assert main(["synth", "--preset", "smoke", "--out", str(tmp_path / o.dest), o.flag, str(given[o.dest])]) == 0
        assert seen.pop() == synth_config("smoke", **{o.dest: given[o.dest]}) != synth_config("smoke")
    assert main(["synth", "--preset", "smoke", "--out", str(tmp_path / "none")]) == 0
    assert seen.pop() == synth_config("smoke")
    assert main(["synth", "--out", str(tmp_path / "book"), "--eeg-gain", "0.6", "--frames-per-step", "16"]) == 0
    assert seen.pop() == synth_config("book", eeg_gain=0.6, frames_per_step=16) and not seen
    assert set(jobs) == {1}  # the default: one session at a time
    assert main(["synth", "--preset", "smoke", "--out", str(tmp_path / "two"), "--n-jobs", "2"]) == 0
    assert jobs[-1] == 2 and seen.pop() == synth_config("smoke")  # how many at once, not what is written


def _config_of(*options):
    from emokd.__main__ import build_parser, experiment_config_from_args

    return experiment_config_from_args(build_parser().parse_args(["run", "--out", "x", *options]))


def test_run_options_give_the_configuration_they_gave_before():
    """Combinations of options, each against the configuration written out by hand."""
    import dataclasses

    from emokd.core.config import HANDOVERS, KDConfig, experiment_config, on_feature_release

    assert _config_of() == experiment_config("book", "loso", 0)
    book = experiment_config("book")
    assert _config_of("--preset", "book", "--normalisation", "subject", "--handover", "output,shuffled,self",
                      "--labelled-fraction", "0.25", "--protocol", "loso", "--seed", "0") == dataclasses.replace(
        book, normalisation="subject", handover=HANDOVERS, labelled_fraction=0.25)
    assert _config_of("--handover", "output,shuffled,self", "--calibration", "0.5") == dataclasses.replace(
        book, handover=HANDOVERS, calibration=0.5)
    smoke = experiment_config("smoke", "loso", 3, backbone="train")
    assert _config_of("--preset", "smoke", "--student", "bilstm", "--teacher-backbone", "train", "--kd-weight", "0.3",
                      "--feature-loss", "cosine", "--kd-sweep", "0.1,3", "--device", "cpu", "--seed", "3") == \
        dataclasses.replace(smoke, student=dataclasses.replace(smoke.student, arch="bilstm"),
                            kd=KDConfig(kd_weight=0.3, feature_loss="cosine"), kd_sweep=(0.1, 3.0), device="cpu")
    paper = experiment_config("paper", "trs")
    cfg = _config_of("--preset", "paper", "--protocol", "trs", "--n-folds", "5", "--trs-folds", "contiguous",
                     "--face-normalisation", "none", "--kd-select", "0,1", "--max-epochs", "4", "--early-stop", "2")
    students = dataclasses.replace(paper.student_train, max_epochs=4, early_stop=2)
    assert cfg == dataclasses.replace(paper, n_folds=5, trs_folds="contiguous", face_normalisation="none",
                                      kd_select=(0.0, 1.0), face_teacher_max_epochs=4, student_train=students,
                                      teacher_train=dataclasses.replace(paper.teacher_train, max_epochs=4))
    assert on_feature_release(cfg).teacher_train == dataclasses.replace(students, max_epochs=4)


def test_control_options_give_their_fields_and_nothing_else():
    """--eeg-bands, --drop-channels, --permute-labels (issue 34) set their fields; not given, the run is today's."""
    import dataclasses

    from emokd.core.config import experiment_config

    book = experiment_config("book")
    cfg = _config_of("--eeg-bands", "beta,gamma", "--drop-channels", "Fp1,Fp2,F7,F8,T7,T8", "--permute-labels", "5")
    assert cfg == dataclasses.replace(book, eeg_bands=("beta", "gamma"), drop_channels=("Fp1", "Fp2", "F7", "F8", "T7",
                                                                                        "T8"), permute_labels=5)
    assert cfg.student == dataclasses.replace(book.student, n_inputs=2 * 26)
    for options, field, value in ((("--eeg-bands", "theta,alpha"), "eeg_bands", ("theta", "alpha")),
                                  (("--drop-channels", "O2"), "drop_channels", ("O2",)),
                                  (("--permute-labels", "0"), "permute_labels", 0)):
        one = _config_of(*options)
        assert getattr(one, field) == value
        assert dataclasses.replace(one, **{field: getattr(book, field)}, student=book.student) == book
    assert _config_of().to_json() == book.to_json()


def test_a_band_the_feature_release_lacks_is_refused_before_any_work(tmp_path, monkeypatch, capsys):
    release = tmp_path / "release"
    (release / "Features").mkdir(parents=True)
    (release / "lable_continous_Mahnob.mat").write_bytes(b"")  # read only after the configuration is checked
    monkeypatch.chdir(tmp_path)
    assert _exit_status(["run", "--out", "x", "--data", str(release), "--eeg-bands", "delta,beta"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [("emokd run: error: eeg_bands=('delta', 'beta'): choose any of theta, alpha, beta, gamma (the bands "
                    "of the feature release)")]
    assert not (tmp_path / "x").exists()
