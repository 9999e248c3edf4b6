"""emokd.evaluation.selection: the replay of fit's early stopping, against fit itself; the budget rule."""

import pytest

from emokd.evaluation import selection as sel


def test_replay_known_answers():
    v = [0.1, 0.3, 0.2, 0.25, 0.28, 0.29, 0.5, 0.4]
    # early stop 3: best at 2, epochs 3-5 without a better one, epoch 6 is > 3 after it: stop before it
    assert sel.replay(v, 40, 3, (40, 8)) == {"best_val_ccc": 0.3, "best_epoch": 2, "epochs_run": 5}
    assert sel.replay(v, 40, 4, (40, 8)) == {"best_val_ccc": 0.3, "best_epoch": 2, "epochs_run": 6}
    assert sel.replay(v, 40, 5, (40, 8)) == {"best_val_ccc": 0.5, "best_epoch": 7, "epochs_run": 8}
    assert sel.replay(v, 3, 8, (40, 8)) == {"best_val_ccc": 0.3, "best_epoch": 2, "epochs_run": 3}
    with pytest.raises(ValueError, match="longer than the logged one"):
        sel.replay(v, 40, 9, (40, 8))


@pytest.mark.slow
def test_replay_matches_fit():
    """fit with a short early stop runs exactly the prefix that replay predicts from a longer run's log."""
    import dataclasses

    import numpy as np
    import torch

    from emokd.core.config import ModelConfig, TrainConfig
    from emokd.training.datasets import WindowSet
    from emokd.nn.models import build_model
    from emokd.training.train import fit

    rng = np.random.default_rng(0)
    trials = [{"key": f"t{i}", "subject": i, "x": rng.standard_normal((60, 4)).astype(np.float32),
               "valence": rng.standard_normal(60).astype(np.float32)} for i in range(6)]
    ws = {p: WindowSet(ts, "x", window_steps=16, hop_steps=8) for p, ts in (("train", trials[:4]), ("val", trials[4:]))}
    long_cfg = TrainConfig(lr=3e-3, batch_size=4, max_epochs=12, early_stop=12, window_steps=16, hop_steps=8)
    runs = {}
    for e in (12, 2):
        torch.manual_seed(0)
        model = build_model(ModelConfig(arch="tcn", n_inputs=4, tcn_channels=(8,)))
        runs[e] = fit(model, ws["train"], ws["val"], dataclasses.replace(long_cfg, early_stop=e), seed=0)
    val = [h["val_ccc"] for h in runs[12].history]
    got = sel.replay(val, 12, 2, (12, 12))
    assert got == {"best_val_ccc": runs[2].best_val_ccc, "best_epoch": runs[2].best_epoch,
                   "epochs_run": runs[2].epochs_run}


def test_cheapest_within_the_tolerance_of_the_best():
    rows = {"a": {"mean_best_val_ccc": 0.500, "epochs_run": 90, "passes": 30.0},
            "b": {"mean_best_val_ccc": 0.496, "epochs_run": 60, "passes": 40.0},  # within 0.005 of a, fewer epochs
            "c": {"mean_best_val_ccc": 0.494, "epochs_run": 10, "passes": 1.0},  # cheapest, but 0.006 below a
            "d": {"mean_best_val_ccc": 0.497, "epochs_run": 60, "passes": 50.0}}  # b's cost, higher CCC: d wins the tie
    assert sel.cheapest_within(rows, "epochs_run") == "d"
    assert sel.cheapest_within(rows, "passes") == "a"
    assert sel.cheapest_within(rows, "epochs_run", tolerance=0.01) == "c"
    assert sel.cheapest_within(rows, "epochs_run", tolerance=0.0) == "a"
    assert sel.TOLERANCE == 0.005
