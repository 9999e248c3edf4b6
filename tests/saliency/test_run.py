"""Saliency of a run: known answers on linear models, the band-major map, predict's windowing, a smoke run, the CLI
(the aggregation's own tests: tests/saliency/test_aggregation.py)."""

import dataclasses
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.stats import pearsonr, spearmanr
from torch import nn

from emokd.__main__ import main
from emokd.core.constants import BAND_NAMES, EEG_CHANNELS
from emokd.core.config import ModelConfig, experiment_config
from emokd.training.datasets import WindowSet, student_inputs
from emokd.errors import EmokdError
from emokd.evaluation.experiment import run_experiment
from emokd.io.features import eeg_band_channel
from emokd.nn.models import build_model
from emokd.io.prepare import load_prepared
from emokd.saliency.attribution import METHODS, attributions, gradient, integrated_gradients, model_trace, occlusion
from emokd.saliency.aggregation import state_masks, to_band_channel, trial_maps
from emokd.saliency.run import compute_run_saliency
from emokd.training.runs import load_run
from emokd.training.train import predict

ROOT = Path(__file__).resolve().parents[2]
F = 192


class Linear(nn.Module):
    """pred = x @ w at every step; the contract ``pred, feats = model(x)``."""

    def __init__(self, w):
        super().__init__()
        self.w = nn.Parameter(torch.as_tensor(w, dtype=torch.float32))

    def forward(self, x):
        return (x @ self.w)[..., None], x  # (B, T, 1), (B, T, F)


class OnlyOne(nn.Module):
    """A nonlinear model that reads feature ``j`` only."""

    def __init__(self, j):
        super().__init__()
        self.j = j

    def forward(self, x):
        v = x[..., self.j:self.j + 1]
        return torch.tanh(v) + 0.5 * v**2, x


@pytest.fixture(scope="module")
def linear_case():
    rng = np.random.default_rng(0)
    w = rng.standard_normal(F)
    x = rng.standard_normal((150, F)).astype(np.float32)  # 150 steps: three overlapping 96-step windows
    return Linear(w), w.astype(np.float32).astype(np.float64), x


def test_linear_model_known_answers(linear_case):
    model, w, x = linear_case
    g = gradient(model, x)
    np.testing.assert_allclose(g, np.broadcast_to(w, x.shape), rtol=1e-5)
    ig = integrated_gradients(model, x)
    np.testing.assert_allclose(ig, w * x, rtol=1e-4, atol=1e-5)
    with torch.no_grad():
        f = float(model_trace(model, torch.from_numpy(x)[None]).sum())  # f(0) = 0
    assert ig.sum() == pytest.approx(f, rel=1e-4)  # completeness
    a = attributions(model, x)
    np.testing.assert_allclose(a["gradient"], np.abs(np.broadcast_to(w, x.shape)), rtol=1e-5)
    np.testing.assert_allclose(a["grad_x_input"], np.abs(w * x), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(a["integrated_gradients"], np.abs(w * x), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(a["occlusion"], np.abs(w * x), rtol=1e-3, atol=1e-4)
    # band-level occlusion: the whole band's contribution, |sum_c w_bc x_bc|
    band = np.abs(to_band_channel(w * x).sum(axis=2))  # (T, 6)
    np.testing.assert_allclose(a["occlusion_band"], band, rtol=1e-3, atol=1e-4)
    chan = np.abs(to_band_channel(w * x).sum(axis=1))  # (T, 32)
    np.testing.assert_allclose(a["occlusion_channel"], chan, rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("model", [Linear(np.eye(F)[4 * 32 + 7] * 0.8), OnlyOne(4 * 32 + 7)])
def test_model_reading_one_feature_puts_all_mass_there(model):
    x = np.random.default_rng(1).standard_normal((120, F)).astype(np.float32)
    y = np.sin(np.arange(120) / 9.0)
    a = attributions(model, x)
    for method in METHODS:
        maps = trial_maps(a[method], y)
        for state in ("all", "high", "low"):
            m = to_band_channel(maps[state])
            assert m.shape == (6, 32) and m.sum() == pytest.approx(1.0)
            assert m[4, 7] == pytest.approx(1.0), (method, state)
    assert np.argmax(a["occlusion_band"].mean(axis=0)) == 4 and np.argmax(a["occlusion_channel"].mean(axis=0)) == 7


def test_band_major_mapping():
    t, b, c = np.meshgrid(np.arange(5), np.arange(6), np.arange(32), indexing="ij")
    eeg_bp = (1000 * t + 100 * b + c).astype(np.float32)  # (T, 6 bands, 32 channels)
    x = student_inputs(eeg_bp)  # (T, 192)
    np.testing.assert_array_equal(to_band_channel(x), eeg_bp)
    one = np.zeros(F)
    one[2 * 32 + 13] = 1.0
    assert np.argwhere(to_band_channel(one)).tolist() == [[2, 13]]
    release = np.arange(3 * 128, dtype=float).reshape(3, 128)  # the feature release: 4 bands
    np.testing.assert_array_equal(to_band_channel(release), eeg_band_channel(release))
    with pytest.raises(ValueError, match="not n_bands x 32"):
        to_band_channel(np.zeros(100))


@pytest.fixture(scope="module")
def student():
    torch.manual_seed(0)
    return build_model(ModelConfig(arch="tcn")).eval()


@pytest.mark.parametrize("n_steps", [250, 70])
def test_trace_is_predicts_windowing(student, n_steps):
    """f(x) is exactly what emokd.training.train.predict scores; a full-length pass is not."""
    x = np.random.default_rng(2).standard_normal((n_steps, F)).astype(np.float32)
    trial = {"key": "P01_T02", "x": x, "valence": np.zeros(n_steps, np.float32)}
    expected = predict(student, WindowSet([trial], "x"))["P01_T02"]
    with torch.no_grad():
        got = model_trace(student, torch.from_numpy(x)[None])[0].numpy()
        full = model_trace(student, torch.from_numpy(x)[None], window_steps=None)[0].numpy()
    np.testing.assert_allclose(got, expected, atol=1e-5)
    if n_steps > 96:  # later windows start without context: their first steps differ
        assert np.abs(full - expected).max() > 1e-3
    else:
        np.testing.assert_allclose(full, expected, atol=1e-5)


def test_batched_occlusion_equals_a_loop_over_predict(student):
    x = np.random.default_rng(3).standard_normal((130, F)).astype(np.float32)
    trial = {"key": "k", "x": x, "valence": np.zeros(130, np.float32)}
    base = predict(student, WindowSet([trial], "x"))["k"]
    groups = [5, 100, np.arange(64, 96)]  # two features and the whole of band 2
    got = occlusion(student, x, groups, max_copies=2)  # several forward passes of copies
    for i, g in enumerate(groups):
        xo = x.copy()
        xo[:, g] = 0.0
        want = np.abs(predict(student, WindowSet([dict(trial, x=xo)], "x"))["k"] - base)
        np.testing.assert_allclose(got[:, i], want, atol=1e-5)


class Cube(nn.Module):
    """pred = sum_j x_j ** 3 at every step."""

    def forward(self, x):
        return (x**3).sum(dim=-1, keepdim=True), x


def test_integrated_gradients_is_a_32_step_midpoint_rule():
    """For x ** 3, IG = x * mean_k 3 (alpha_k x) ** 2 = x ** 3 * (1 - 1 / (4 * 32 ** 2)) with midpoints
    alpha_k = (k + 0.5) / 32 (left or right endpoints give x ** 3 * (1 -+ 3/64 + ...))."""
    x = np.random.default_rng(5).standard_normal((40, F)).astype(np.float32)
    ig = integrated_gradients(Cube(), x)
    np.testing.assert_allclose(ig, x.astype(np.float64) ** 3 * (1 - 1 / (4 * 32**2)), rtol=1e-5, atol=1e-6)


def test_integrated_gradients_completeness_on_a_tcn(student):
    x = np.random.default_rng(4).standard_normal((110, F)).astype(np.float32)
    with torch.no_grad():
        fx = float(model_trace(student, torch.from_numpy(x)[None]).sum())
        f0 = float(model_trace(student, torch.zeros(1, 110, F)).sum())
    ig = integrated_gradients(student, x, n_alphas=64)
    assert ig.sum() == pytest.approx(fx - f0, rel=0.02, abs=1e-3)


def test_state_split_known_answer():
    assert state_masks([0.0, 1, 2, 3, 4])["high"].tolist() == [False, False, False, True, True]
    assert state_masks([0.0, 1, 2, 3, 4])["low"].tolist() == [True, True, False, False, False]
    # feature 10 is on when valence is high, feature 20 when it is low: occlusion sees only those
    y = np.sin(np.linspace(0, 6 * np.pi, 200))
    x = np.zeros((200, F), np.float32)
    x[y > np.median(y), 10] = 1.0
    x[y < np.median(y), 20] = 1.0
    w = np.zeros(F)
    w[[10, 20]] = [2.0, -1.0]
    maps = trial_maps(attributions(Linear(w), x, methods=("occlusion",))["occlusion"], y)
    assert maps["high"][10] == pytest.approx(1.0) and maps["low"][20] == pytest.approx(1.0)
    assert maps["all"][10] == pytest.approx(2 / 3, abs=0.02)  # |w| 2 vs 1 over equal halves


# ------------------------------------------------------------------ a smoke run


@pytest.fixture(scope="module")
def smoke_run(smoke_prepared, tmp_path_factory):
    cfg = experiment_config("smoke", "loso", seed=0)
    fast = dataclasses.replace(cfg.student_train, max_epochs=2)
    cfg = dataclasses.replace(cfg, teacher_train=fast, student_train=fast)
    out = tmp_path_factory.mktemp("saliency_run")
    run_experiment(smoke_prepared[0], cfg, out, n_jobs=2, progress=False)  # 1 torch thread per fold
    return out


def test_compute_run_saliency_smoke(smoke_run, smoke_prepared):
    threads = torch.get_num_threads()
    sal = compute_run_saliency(smoke_run)  # 1 torch thread during the call
    assert torch.get_num_threads() == threads
    on_disk = json.loads((smoke_run / "saliency.json").read_text())
    assert on_disk["format"] == "emokd-saliency/2" and on_disk["bands"] == list(BAND_NAMES)
    assert on_disk["channels"] == list(EEG_CHANNELS) and on_disk["methods"] == list(METHODS)
    truth = json.loads((Path(json.loads((smoke_prepared[0] / "manifest.json").read_text())["source"])
                        / "ground_truth.json").read_text())["truth_map"]
    assert on_disk["truth"]["map"] == truth
    results = json.loads((smoke_run / "results.json").read_text())
    test_subjects = {str(s) for f in results["folds"] for s in f["test"]["subjects"]}
    for name in ("student", "student_kd"):
        for method in METHODS:
            e = on_disk["models"][name][method]
            m = np.array(e["map"])
            assert m.shape == (6, 32) and m.min() >= 0 and m.sum() == pytest.approx(1.0, abs=1e-5)
            np.testing.assert_allclose(e["band_importance"], m.sum(axis=1), atol=1e-6)
            np.testing.assert_allclose(e["channel_importance"], m.sum(axis=0), atol=1e-6)
            assert set(e["by_subject"]) == test_subjects
            for state in ("high", "low"):
                assert np.array(e["by_state"][state]).sum() == pytest.approx(1.0, abs=1e-5)
            assert isinstance(e["truth_spearman"], float) and -1 <= e["truth_spearman"] <= 1
            assert e["truth_spearman"] == pytest.approx(spearmanr(m.ravel(), np.ravel(truth)).statistic, abs=1e-6)
            assert e["truth_auc"] == pytest.approx(_auc_by_loop(m, truth), abs=1e-9)
            assert len(e["by_fold"]) == 3
        assert len(on_disk["models"][name]["occlusion"]["band_occlusion"]) == 6
        assert len(on_disk["models"][name]["occlusion"]["channel_occlusion"]) == 32
        # the recomputed traces are the run's saved test predictions
        assert max(on_disk["checks"]["max_abs_diff_vs_saved_predictions"][name].values()) < 1e-5
    assert sal["models"].keys() == on_disk["models"].keys()
    # the model-free reference: each fold's |r| from the raw prepared band power (r ignores the z-scoring)
    ref = on_disk["references"]["feature_correlation"]
    raw = {t["key"]: t for t in load_prepared(smoke_prepared[0], frames=False)}
    maps = []
    for f, entry in zip(results["folds"], ref["by_fold"], strict=True):
        x = np.concatenate([raw[k]["eeg_bp"].reshape(len(raw[k]["eeg_bp"]), -1) for k in f["test"]["trials"]])
        y = np.concatenate([raw[k]["valence"] for k in f["test"]["trials"]])
        r = np.abs([pearsonr(x[:, j], y).statistic for j in range(x.shape[1])])
        maps.append((r / r.sum()).reshape(6, 32))
        np.testing.assert_allclose(entry["map"], maps[-1], atol=1e-6)
    overall = np.mean(maps, axis=0) / np.mean(maps, axis=0).sum()
    np.testing.assert_allclose(ref["map"], overall, atol=1e-6)
    assert ref["truth_spearman"] == pytest.approx(spearmanr(overall.ravel(), np.ravel(truth)).statistic, abs=1e-6)
    assert ref["truth_auc"] == pytest.approx(_auc_by_loop(overall, truth), abs=1e-9)
    # each student's activation pattern: per fold, |r| of each raw feature with the run's SAVED test
    # predictions (not the recomputed traces), normalised, then averaged over folds
    saved = load_run(smoke_run)
    for name in ("student", "student_kd"):
        pat, maps = on_disk["patterns"][name], []
        for f, entry in zip(results["folds"], pat["by_fold"], strict=True):
            pred = saved.predictions(f["fold"])
            x = np.concatenate([raw[k]["eeg_bp"].reshape(len(raw[k]["eeg_bp"]), -1) for k in f["test"]["trials"]])
            y = np.concatenate([pred[k][name] for k in f["test"]["trials"]])
            r = np.abs([pearsonr(x[:, j], y).statistic for j in range(x.shape[1])])
            maps.append((r / r.sum()).reshape(6, 32))
            np.testing.assert_allclose(entry["map"], maps[-1], atol=1e-4)
        overall = np.mean(maps, axis=0) / np.mean(maps, axis=0).sum()
        np.testing.assert_allclose(pat["map"], overall, atol=1e-4)
        assert pat["truth_auc"] == pytest.approx(_auc_by_loop(np.array(pat["map"]), truth), abs=0.02)


def _auc_by_loop(m, truth):
    m, truth = np.ravel(m), np.ravel(truth)
    pos, neg = m[truth > 0], m[truth == 0]
    wins = sum(1.0 if p > q else 0.5 if p == q else 0.0 for p in pos for q in neg)
    return wins / (len(pos) * len(neg))


def _cli(args, cwd):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "emokd", *args], capture_output=True, text=True, cwd=cwd, env=env,
                          check=False)


def test_cli_saliency(smoke_run, tmp_path):
    target = smoke_run / "saliency.json"
    target.unlink(missing_ok=True)
    result = _cli(["saliency", str(smoke_run), "--methods", "gradient,grad_x_input", "--models", "student_kd",
                   "--threads", "1"], tmp_path)
    assert result.returncode == 0, result.stderr
    assert "| student_kd |" in result.stdout and "planted truth" in result.stdout
    sal = json.loads(target.read_text())
    assert sal["methods"] == ["gradient", "grad_x_input"] and list(sal["models"]) == ["student_kd"]


@pytest.mark.parametrize("args, message", [
    (["--methods", "saliency_maps"], "methods ['saliency_maps']: choose from gradient"),
    (["--models", "teacher"], "models ['teacher']: choose from the run's students student, student_kd"),
    (["--models", "student_kd_w9"], "models ['student_kd_w9']"),
    (["--threads", "0"], "--threads 0: need >= 1"),
    (["--device", "tpu9"], "--device tpu9: choose auto, cpu, cuda, mps or cuda:N"),
])  # fmt: skip
def test_cli_bad_arguments_exit_2_without_writing(smoke_run, args, message, capsys):
    target = smoke_run / "saliency.json"
    target.unlink(missing_ok=True)
    assert main(["saliency", str(smoke_run), *args]) == 2
    last = capsys.readouterr().err.strip().splitlines()
    assert len(last) == 1 and message in last[0]
    assert not target.exists()


def test_cli_bad_run_and_usage(tmp_path, capsys):
    with pytest.raises(SystemExit) as err:
        main(["saliency", "--help"])
    assert err.value.code == 0 and "usage: python -m emokd saliency" in capsys.readouterr().out
    assert main(["saliency", str(tmp_path / "nope")]) == 2
    assert "nope/results.json: no results file" in capsys.readouterr().err.strip().splitlines()[-1]
    with pytest.raises(SystemExit) as err:
        main(["saliency", str(tmp_path), "--methods", ","])
    assert err.value.code == 2


def test_folds_in_parallel_give_the_same_saliency(smoke_run, tmp_path):
    """n_jobs=2 (folds in joblib workers) computes what the loop in this process computes, fold for fold."""
    one = compute_run_saliency(smoke_run, n_jobs=1, write=False)
    two = compute_run_saliency(smoke_run, n_jobs=2, out=tmp_path)
    assert json.loads((tmp_path / "saliency.json").read_text())["models"] == json.loads(json.dumps(two["models"]))
    for name in ("student", "student_kd"):
        for method in METHODS:
            a, b = one["models"][name][method], two["models"][name][method]
            np.testing.assert_allclose(b["map"], a["map"], rtol=0, atol=1e-12)
            assert [f["fold"] for f in b["by_fold"]] == [f["fold"] for f in a["by_fold"]]
            np.testing.assert_allclose([f["truth_spearman"] for f in b["by_fold"]],
                                       [f["truth_spearman"] for f in a["by_fold"]], atol=1e-12)
    assert two["checks"] == one["checks"]
    assert two["references"] == one["references"]
    with pytest.raises(EmokdError, match="n_jobs=0"):
        compute_run_saliency(smoke_run, n_jobs=0, write=False)


def test_saliency_into_another_runs_folder_is_refused(tmp_path):
    from emokd.training.runfolder import MARKER

    other = tmp_path / "other"
    other.mkdir()
    (other / MARKER).write_text('{"format": "emokd-run/1"}')
    with pytest.raises(EmokdError, match=r"other: another run's folder \(it holds .emokd.json\)"):
        compute_run_saliency(tmp_path / "run", out=other)
    assert [p.name for p in other.iterdir()] == [MARKER]


def test_a_damaged_ground_truth_is_one_line(smoke_prepared, tmp_path):
    from emokd.saliency.run import load_truth

    prepared, raw = tmp_path / "prepared", tmp_path / "raw"
    shutil.copytree(smoke_prepared[0], prepared)
    raw.mkdir()
    manifest = json.loads((prepared / "manifest.json").read_text())
    (prepared / "manifest.json").write_text(json.dumps({**manifest, "source": str(raw)}))
    (raw / "ground_truth.json").write_text('{"truth_map": [[0.1, ')
    with pytest.raises(EmokdError, match=r"raw/ground_truth.json: field 'truth_map' is not readable \(.*\); "
                                         r"regenerate the data"):
        load_truth(prepared, "prepared", 6)
