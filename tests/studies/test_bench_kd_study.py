"""studies/bench_kd_study.py end to end on the smoke preset (run as a script); latent-valence metrics on the
label metrics' steps; its run order and configuration (``--list``)."""

import json

import numpy as np
import pytest

from emokd.core.metrics import fold_metrics
from emokd.io.prepare import load_prepared

SMOKE = ["--preset", "smoke", "--seeds", "0", "--noise", "0", "1", "--private", "1"]


def _study(run_script, *args) -> dict:
    """Run the study script with ``args``; the results.json it wrote under its ``--out``."""
    run_script("bench_kd_study.py", *args)
    out = args[args.index("--out") + 1]
    return json.loads((out / "results.json").read_text())


@pytest.fixture(scope="module")
def study(tmp_path_factory, study_script):
    tmp = tmp_path_factory.mktemp("kd-study")
    out = tmp / "results"
    res = _study(study_script, *SMOKE, "--n-jobs", "2", "--work", tmp / "work", "--out", out)
    return tmp, out, res


def test_study_runs_end_to_end_on_smoke(study, study_script):
    tmp, out, res = study
    assert {p.name for p in out.iterdir()} >= {"results.json", "results.md", "kd_gain.png"}
    on_disk = json.loads((out / "results.json").read_text())
    assert set(on_disk["analysis"]["conditions"]) == {"noise0_private0", "noise1_private0", "noise1_private1"}
    assert set(on_disk["verdicts"]) == {"H1", "H2", "H3"}
    assert on_disk["unit_of_pairing"] == "fold x seed" and on_disk["kd_weight"] == 1.0
    # the KD gain of a condition is the mean over its fold x seed rows of KD - student (an independent sum)
    rows = on_disk["folds"]["noise1_private0"]
    gain = sum(r["student_kd_latent_concatenated"] - r["student_latent_concatenated"] for r in rows) / len(rows)
    assert on_disk["analysis"]["conditions"]["noise1_private0"]["kd_gain_latent"]["mean"] == pytest.approx(gain)
    # H2's slope with two levels is the difference of the gains per unit
    rows0 = on_disk["folds"]["noise0_private0"]
    slope = np.mean([(r["student_kd_latent_concatenated"] - r["student_latent_concatenated"])
                     - (q["student_kd_latent_concatenated"] - q["student_latent_concatenated"])
                     for r, q in zip(rows, rows0)])
    assert on_disk["analysis"]["h2"]["slope_latent"]["mean"] == pytest.approx(slope)
    # a second run reuses every run folder (resume) and gives the same analysis
    again = _study(study_script, *SMOKE, "--n-jobs", "2", "--work", tmp / "work", "--out", tmp / "again")
    assert again["analysis"] == res["analysis"]
    # --no-run analyses the finished runs only: seed 1 never ran, so the partial study is seed 0's
    partial = _study(study_script, "--preset", "smoke", "--seeds", "0", "1", "--noise", "0", "1", "--private", "1",
                     "--work", tmp / "work", "--out", tmp / "partial", "--no-run")
    assert partial["analysis"] == res["analysis"] and partial["complete"] is False
    assert sorted(partial["missing_runs"]) == sorted(f"{c}_seed1" for c in res["analysis"]["conditions"])
    assert "Partial study" in (tmp / "partial" / "results.md").read_text()
    assert not (tmp / "work" / "runs" / "noise0_private0_seed1").exists()


@pytest.mark.parametrize("condition", ["noise0_private0", "noise1_private0"])
def test_latent_metrics_on_the_same_steps_as_label_metrics(study, condition):
    tmp, _, _ = study
    run = tmp / "work" / "runs" / f"{condition}_seed0"
    res = json.loads((run / "results.json").read_text())
    trials = {t["key"]: t for t in load_prepared(tmp / "work" / "data" / f"{condition}_seed0" / "prepared",
                                                  frames=False)}
    differ = False
    for f in res["folds"]:
        assert set(f["metrics_latent"]) == set(f["metrics"])  # every model and reference
        with np.load(run / f["predictions"]) as npz:
            for m in ("teacher", "student", "student_kd"):
                pairs = {k: (trials[k]["latent"], npz[f"{k}__{m}"]) for k in f["test"]["trials"]}
                for k, (lat, pred) in pairs.items():  # the prediction covers every labelled step
                    assert lat.shape == pred.shape == npz[f"{k}__true"].shape
                    assert np.array_equal(npz[f"{k}__true"], trials[k]["valence"])
                want = fold_metrics(pairs)
                for scheme in ("concatenated", "per_trial"):
                    for metric in ("rmse", "pcc", "ccc"):
                        assert f["metrics_latent"][m][scheme][metric] == pytest.approx(want[scheme][metric])
                differ |= f["metrics_latent"][m]["concatenated"]["ccc"] != f["metrics"][m]["concatenated"]["ccc"]
        if condition == "noise0_private0":  # exact labels: the latent scores are the label scores
            assert f["metrics_latent"] == f["metrics"]
    assert differ == (condition != "noise0_private0")
    for key in ("summary_latent", "summary_latent_per_trial", "tests_latent"):
        assert key in res
    ccc = [f["metrics_latent"]["student"]["concatenated"]["ccc"] for f in res["folds"]]
    assert res["summary_latent"]["student"]["ccc"]["mean"] == pytest.approx(np.mean(ccc))


def _listed(run_script, *args) -> tuple[dict, list[str]]:
    """``--list``: seed -> its experiment configuration, and the runs in the order they run."""
    from emokd.core.config import ExperimentConfig

    configs, runs = {}, []
    for line in run_script("bench_kd_study.py", "--list", *args).stdout.splitlines():
        if line.startswith("seed "):
            seed, _, cfg = line.removeprefix("seed ").partition(" config ")
            configs[int(seed)] = ExperimentConfig.from_json(json.loads(cfg))
        else:
            runs.append(line)
    return configs, runs


def test_run_order_puts_the_cheapest_contrasts_first(tmp_path, study_script):
    _, runs = _listed(study_script, "--seeds", "0", "--noise", "0", "0.5", "1", "2", "--private", "1", "--h3-noise", "1",
                      "--work", tmp_path)
    assert runs == [f"{c}_seed0 to run" for c in ("noise0_private0", "noise2_private0", "noise1_private0",
                                                  "noise1_private1", "noise0.5_private0")]
    assert sorted(runs) == sorted([f"noise{n}_private0_seed0 to run" for n in ("0", "0.5", "1", "2")]
                                  + ["noise1_private1_seed0 to run"])  # each once
    (tmp_path / "runs" / "noise2_private0_seed0").mkdir(parents=True)
    (tmp_path / "runs" / "noise2_private0_seed0" / "results.json").write_text("{}")
    _, runs = _listed(study_script, "--seeds", "0", "--noise", "0", "2", "--private", "1", "--h3-noise", "2", "--work", tmp_path)
    assert runs == ["noise0_private0_seed0 to run", "noise2_private0_seed0 done", "noise2_private1_seed0 to run"]


def test_study_keeps_the_training_it_ran_with(tmp_path, study_script):
    """The book preset's training when the study ran (literal values of then), everything else as today's."""
    from emokd.core.config import TrainConfig, experiment_config

    configs, _ = _listed(study_script, "--seeds", "1", "--work", tmp_path)
    book = configs[1]
    now = experiment_config("book", "loso", seed=1)
    then = TrainConfig(lr=1e-3, lr_min=1e-5, batch_size=8, max_epochs=40, lr_patience=3, early_stop=8, grad_clip=1.0)
    assert book.student_train == then != now.student_train
    assert book.teacher_train == TrainConfig(lr=1e-3, lr_min=1e-5, batch_size=8, max_epochs=30, lr_patience=5,
                                             early_stop=8, grad_clip=1.0) == now.teacher_train  # unchanged
    assert {k: v for k, v in book.to_json().items() if k not in ("student_train", "teacher_train")} == \
        {k: v for k, v in now.to_json().items() if k not in ("student_train", "teacher_train")}
    smoke, _ = _listed(study_script, "--preset", "smoke", "--seeds", "0", "--work", tmp_path)
    assert smoke[0] == experiment_config("smoke", "loso", seed=0)
