"""Training: it learns a known relation, is deterministic, resumes exactly, logs KD terms."""

import dataclasses
import json

import numpy as np
import pytest
import torch

from emokd.core.config import KDConfig, ModelConfig, TrainConfig
from emokd.training.datasets import WindowSet
from emokd.errors import EmokdError
from emokd.training.train import extract_knowledge, fit, load_model, predict, save_model
from emokd.core.device import resolve_device

SMALL = ModelConfig(arch="tcn", n_inputs=6, tcn_channels=(8, 8))
CFG = TrainConfig(lr=3e-3, batch_size=4, max_epochs=6, lr_patience=2, early_stop=4, window_steps=32, hop_steps=16)


def _trials(n=6, steps=80, seed=0):
    """Valence is a known linear function of the inputs (plus noise): learnable."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        x = np.cumsum(rng.normal(size=(steps, 6)), axis=0).astype(np.float32) * 0.2
        y = (x[:, 0] - 0.5 * x[:, 3] + 0.1 * rng.normal(size=steps)).astype(np.float32)
        out.append({"key": f"T{i}", "valence": y, "x": x})
    return out


def _sets(knowledge=None):
    tr = _trials(6, seed=0)
    va = _trials(2, seed=1)
    kw = {"window_steps": 32, "hop_steps": 16}
    return WindowSet(tr, "x", knowledge=knowledge, **kw), WindowSet(va, "x", **kw)


def _model(seed=0, cfg=SMALL):
    from emokd.nn.models import build_model

    torch.manual_seed(seed)
    return build_model(cfg)


class _Stop(Exception):
    """Raised by :func:`_stop_after`'s hook: a run interrupted after an epoch."""


def _stop_after(n: int):
    """An ``on_epoch_end`` hook that interrupts the run after epoch ``n``."""
    def hook(epoch, record):
        if epoch == n:
            raise _Stop
    return hook


@pytest.mark.slow  # trains for several seconds
def test_fit_learns_a_known_relation():
    tr, va = _sets()
    m = _model()
    res = fit(m, tr, va, dataclasses.replace(CFG, max_epochs=25, early_stop=25), seed=0)
    assert res.best_val_ccc > 0.8
    assert res.history[-1]["train_ccc_loss"] < res.history[0]["train_ccc_loss"]
    pred = predict(m, va)
    assert set(pred) == {"T0", "T1"} and pred["T0"].shape == (80,)


@pytest.mark.slow  # trains for several seconds
def test_same_seed_same_result_and_other_seed_differs():
    runs = []
    for seed in (0, 0, 1):
        tr, va = _sets()
        m = _model(seed)
        res = fit(m, tr, va, CFG, seed=seed)
        runs.append(([h["val_ccc"] for h in res.history], predict(m, va)["T0"]))
    assert runs[0][0] == runs[1][0]
    np.testing.assert_array_equal(runs[0][1], runs[1][1])
    assert runs[0][0] != runs[2][0]


@pytest.mark.slow  # trains for several seconds
def test_resume_equals_uninterrupted(tmp_path):
    tr, va = _sets()
    m = _model()
    full = fit(m, tr, va, CFG, seed=0)
    ref = predict(m, va)["T0"]

    interrupt = _stop_after(3)

    ck, logf = tmp_path / "m.ckpt", tmp_path / "m.log.jsonl"
    m2 = _model()
    with pytest.raises(_Stop):
        fit(m2, tr, va, CFG, seed=0, checkpoint_path=ck, log_path=logf, on_epoch_end=interrupt)
    assert len(logf.read_text().splitlines()) == 3
    m3 = _model(seed=99)  # different weights: the checkpoint must restore everything
    resumed = fit(m3, tr, va, CFG, seed=0, checkpoint_path=ck, log_path=logf, resume=True)
    assert [h["val_ccc"] for h in resumed.history] == [h["val_ccc"] for h in full.history]
    assert resumed.best_epoch == full.best_epoch
    np.testing.assert_array_equal(predict(m3, va)["T0"], ref)
    lines = [json.loads(x) for x in logf.read_text().splitlines()]
    assert [x["epoch"] for x in lines] == list(range(1, full.epochs_run + 1))
    # a checkpoint made with other settings is ignored, not silently reused
    m4 = _model()
    other = fit(m4, tr, va, dataclasses.replace(CFG, lr=1e-3), seed=0, checkpoint_path=ck, resume=True)
    assert other.history[0]["epoch"] == 1


@pytest.mark.slow  # trains for several seconds
def test_kd_terms_logged_and_projection_when_sizes_differ(tmp_path):
    tr, va = _sets()
    teacher = _model(5)
    teacher.eval()
    know = extract_knowledge(teacher, tr)
    assert know["T0"].shape == (len(tr.starts["T0"]), 32, 8)
    tr_kd, va = _sets(knowledge=know)
    res = fit(_model(), tr_kd, va, CFG, seed=0, kd=KDConfig(kd_weight=0.5), log_path=tmp_path / "kd.jsonl")
    rec = json.loads((tmp_path / "kd.jsonl").read_text().splitlines()[0])
    assert rec["train_kd_loss"] > 0
    assert rec["train_total"] == pytest.approx(rec["train_ccc_loss"] + 0.5 * rec["train_kd_loss"], rel=1e-6)
    assert res.projection is None  # 8 == 8 features
    # a 4-feature teacher: a learned projection bridges the sizes ...
    know4 = {k: v[..., :4] for k, v in know.items()}
    tr4, _ = _sets(knowledge=know4)
    assert fit(_model(), tr4, va, CFG, seed=0, kd=KDConfig()).projection is not None
    # ... unless the user forbids it
    with pytest.raises(EmokdError, match="differ"):
        fit(_model(), tr4, va, CFG, seed=0, kd=KDConfig(projection="none"))


def test_save_and_load_model(tmp_path):
    m = _model()
    save_model(m, SMALL, tmp_path / "m.pt", extra={"fold": 3})
    saved = load_model(tmp_path / "m.pt")
    assert saved.config == SMALL and saved.extra == {"fold": 3} and not saved.model.training
    x = torch.randn(1, 20, 6)
    m.eval()
    torch.testing.assert_close(m(x)[0], saved.model(x)[0])
    (tmp_path / "bad.pt").write_bytes(b"not a model")
    with pytest.raises(EmokdError, match="bad.pt"):
        load_model(tmp_path / "bad.pt")
    # weights that do not fit the network the file's config builds: named, not a torch traceback
    other = dataclasses.replace(SMALL, tcn_channels=(4,))
    torch.save({"state_dict": m.state_dict(), "config": json.dumps(dataclasses.asdict(other))}, tmp_path / "odd.pt")
    with pytest.raises(EmokdError, match=r"odd.pt: does not fit Student: .*unexpected keys"):
        load_model(tmp_path / "odd.pt")


def test_resolve_device(monkeypatch):
    """``auto``: CUDA first, then MPS, then the CPU, whatever this machine has (each case made here)."""
    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("cuda:1") == torch.device("cuda", 1)  # as given, not checked here (the CLI does)
    for cuda, mps, want in ((True, True, "cuda"), (False, True, "mps"), (False, False, "cpu")):
        monkeypatch.setattr(torch.cuda, "is_available", lambda cuda=cuda: cuda)
        monkeypatch.setattr(torch.backends.mps, "is_available", lambda mps=mps: mps)
        assert resolve_device("auto") == torch.device(want)
    with pytest.raises(EmokdError, match="device='gpu0'"):
        resolve_device("gpu0")


def test_truncated_checkpoint_names_the_file_and_offers_fresh(tmp_path):
    tr, va = _sets()
    ck = tmp_path / "m.ckpt"
    fit(_model(), tr, va, dataclasses.replace(CFG, max_epochs=1), seed=0, checkpoint_path=ck)
    ck.write_bytes(ck.read_bytes()[:100])
    with pytest.raises(EmokdError, match=r"m.ckpt: unreadable checkpoint .*--fresh"):
        fit(_model(), tr, va, CFG, seed=0, checkpoint_path=ck, resume=True)


def _noisy_cfg(reload):
    """A high learning rate, so that validation CCC falls in some epochs."""
    return dataclasses.replace(CFG, lr=0.05, max_epochs=8, early_stop=8, lr_patience=8,
                               reload_best_each_epoch=reload)


@pytest.mark.slow  # trains for several seconds
def test_reload_best_each_epoch_starts_every_epoch_from_the_best_weights():
    from emokd.training.train import evaluate_ccc

    seen = {}
    for reload in (False, True):
        tr, va = _sets()
        m = _model()
        at_end = []
        res = fit(m, tr, va, _noisy_cfg(reload), seed=0,
                  on_epoch_end=lambda epoch, rec: at_end.append(evaluate_ccc(m, va)))
        vals = [h["val_ccc"] for h in res.history]
        running_best = np.maximum.accumulate(vals)
        if reload:  # after every epoch the model is back at the best weights so far
            np.testing.assert_allclose(at_end, running_best, rtol=1e-6, atol=1e-6)
        else:  # the weights of the epoch just trained
            np.testing.assert_allclose(at_end, vals, rtol=1e-6, atol=1e-6)
        seen[reload] = vals
    assert any(np.diff(seen[False]) < 0), "the test needs an epoch whose validation CCC falls"
    assert seen[True] != seen[False]


@pytest.mark.slow  # trains for several seconds
def test_reload_best_each_epoch_resumes_exactly(tmp_path):
    cfg = _noisy_cfg(True)
    tr, va = _sets()
    m = _model()
    full = fit(m, tr, va, cfg, seed=0)
    ref = predict(m, va)["T0"]

    interrupt = _stop_after(4)

    ck = tmp_path / "m.ckpt"
    with pytest.raises(_Stop):
        fit(_model(), tr, va, cfg, seed=0, checkpoint_path=ck, on_epoch_end=interrupt)
    m3 = _model(seed=99)
    resumed = fit(m3, tr, va, cfg, seed=0, checkpoint_path=ck, resume=True)
    assert [h["val_ccc"] for h in resumed.history] == [h["val_ccc"] for h in full.history]
    np.testing.assert_array_equal(predict(m3, va)["T0"], ref)


@pytest.mark.slow  # trains for several seconds
def test_checkpoint_made_on_other_inputs_is_not_resumed(tmp_path):
    tr, va = _sets()
    cfg = dataclasses.replace(CFG, max_epochs=2)
    ck = tmp_path / "m.ckpt"
    fit(_model(), tr, va, cfg, seed=0, checkpoint_path=ck, input_recipe={"normalisation": "train"})
    trained = []
    again = fit(_model(), tr, va, cfg, seed=0, checkpoint_path=ck, resume=True,
                input_recipe={"normalisation": "train"}, on_epoch_end=lambda e, r: trained.append(e))
    assert again.epochs_run == 2 and trained == []  # resumed after its last epoch: nothing left to train
    other = fit(_model(), tr, va, cfg, seed=0, checkpoint_path=ck, resume=True,
                input_recipe={"normalisation": "subject"}, on_epoch_end=lambda e, r: trained.append(e))
    identity = json.loads(torch.load(ck, weights_only=True)["identity"])
    assert trained == [1, 2] and identity["input_recipe"] == {"normalisation": "subject"} and "inputs" not in identity


@pytest.mark.slow  # trains for several seconds
def test_a_checkpoint_of_the_older_layout_is_resumed(tmp_path):
    """Before 2026-12 the identity stored the input recipe as ``inputs``: the same training, resumed."""
    tr, va = _sets()
    cfg = dataclasses.replace(CFG, max_epochs=3)
    recipe = {"normalisation": "train"}
    whole = fit(_model(), tr, va, cfg, seed=0, input_recipe=recipe)
    ck = tmp_path / "m.ckpt"
    with pytest.raises(_Stop):
        fit(_model(), tr, va, cfg, seed=0, checkpoint_path=ck, input_recipe=recipe, on_epoch_end=_stop_after(1))
    ckpt = torch.load(ck, weights_only=True)
    identity = json.loads(ckpt["identity"])
    identity["inputs"] = identity.pop("input_recipe")
    torch.save({**ckpt, "identity": json.dumps(identity, sort_keys=True)}, ck)
    trained = []
    again = fit(_model(), tr, va, cfg, seed=0, checkpoint_path=ck, resume=True, input_recipe=recipe,
                on_epoch_end=lambda e, r: trained.append(e))
    assert trained == [2, 3] and [h["val_ccc"] for h in again.history] == [h["val_ccc"] for h in whole.history]


class _Recorder(WindowSet):
    """A WindowSet that records which windows each training batch asks for."""

    def __init__(self, *a, **k):
        super().__init__(*a, **k)
        self.asked = []

    def batch(self, idx, *a, **k):
        if k.get("train"):
            self.asked.append([int(i) for i in idx])
        return super().batch(idx, *a, **k)


@pytest.mark.slow
def test_epoch_fraction_draws_a_fresh_share_of_the_windows_each_epoch():
    tr = _Recorder(_trials(6, seed=0), "x", window_steps=32, hop_steps=16)
    _, va = _sets()
    epochs = []
    cfg = dataclasses.replace(CFG, max_epochs=4, early_stop=10, epoch_fraction=1 / 3)
    fit(_model(), tr, va, cfg, seed=0, on_epoch_end=lambda e, r: epochs.append(sum(tr.asked, [])) or tr.asked.clear())
    n = len(tr)
    assert n == 6 * 4  # 80 steps, windows of 32 starting at 0, 16, 32, 48 (the last ends the trial)
    for seen in epochs:
        assert len(seen) == round(n / 3) and len(set(seen)) == len(seen)  # a third, without replacement
        assert set(seen) <= set(range(n))
    assert len({frozenset(s) for s in epochs}) == len(epochs)  # a fresh draw every epoch
    # fraction 1 draws every window once: the epoch of a full pass
    full = _Recorder(_trials(6, seed=0), "x", window_steps=32, hop_steps=16)
    fit(_model(), full, va, dataclasses.replace(CFG, max_epochs=1), seed=0)
    assert sorted(sum(full.asked, [])) == list(range(n))


@pytest.mark.parametrize("bad", [0.0, -0.5, 1.5, float("nan")])
def test_epoch_fraction_outside_0_1_is_refused(bad):
    with pytest.raises(EmokdError, match="epoch_fraction"):
        TrainConfig(epoch_fraction=bad)


@pytest.mark.slow  # trains for several seconds
def test_checkpoints_every_few_seconds_and_after_the_last_epoch(tmp_path, monkeypatch):
    import emokd.training.train as train_mod

    saves = []
    real = train_mod.torch_save
    monkeypatch.setattr(train_mod, "torch_save", lambda obj, path: saves.append(obj["epoch"]) or real(obj, path))
    tr, va = _sets()
    cfg = dataclasses.replace(CFG, max_epochs=4, early_stop=10)
    m = _model()
    fit(m, tr, va, cfg, seed=0, checkpoint_path=tmp_path / "a.ckpt")
    assert saves == [1, 2, 3, 4]  # every epoch (the default)
    saves.clear()

    interrupt = _stop_after(3)

    ck = tmp_path / "b.ckpt"
    with pytest.raises(_Stop):  # no checkpoint is due before epoch 3: nothing written, nothing to resume
        fit(_model(), tr, va, cfg, seed=0, checkpoint_path=ck, on_epoch_end=interrupt, checkpoint_every_s=1e9)
    assert saves == [] and not ck.exists()
    m2 = _model()
    ref = fit(m2, tr, va, cfg, seed=0, checkpoint_path=ck, checkpoint_every_s=1e9)
    assert saves == [4]  # the last epoch's state, written once the run ends
    np.testing.assert_array_equal(predict(m2, va)["T0"], predict(m, va)["T0"])  # the same training as above
    trained, m3 = [], _model(seed=99)
    again = fit(m3, tr, va, cfg, seed=0, checkpoint_path=ck, resume=True, checkpoint_every_s=1e9,
                on_epoch_end=lambda e, r: trained.append(e))
    assert trained == [] and again.history == ref.history and again.best_epoch == ref.best_epoch
    np.testing.assert_array_equal(predict(m3, va)["T0"], predict(m2, va)["T0"])


CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (Colab, a GPU machine)")


@CUDA
def test_cuda_training_follows_the_cpu_and_its_checkpoint_resumes_on_the_cpu(tmp_path, monkeypatch):
    """The path Colab users take. A CUDA run is not the CPU's run bit for bit: dropout draws its
    masks from the CUDA generator (another stream for the same seed) and cuDNN may convolve in
    TF32. With both out of the way the two follow each other to float rounding; predictions come
    back as CPU float32 numpy; a checkpoint written on CUDA resumes on the CPU."""

    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", False)
    monkeypatch.setattr(torch.backends.cuda.matmul, "allow_tf32", False)
    no_dropout = dataclasses.replace(SMALL, dropout=0.0)
    cfg = dataclasses.replace(CFG, max_epochs=3, early_stop=3)
    results = {}
    for device in ("cpu", "cuda"):
        tr, va = _sets()
        m = _model(0, no_dropout)
        res = fit(m, tr, va, cfg, seed=0, device=device, checkpoint_path=tmp_path / f"{device}.ckpt")
        pred = predict(m, va, device=device)
        assert isinstance(pred["T0"], np.ndarray) and pred["T0"].dtype == np.float32
        results[device] = ([h["val_ccc"] for h in res.history], pred["T0"])
    np.testing.assert_allclose(results["cuda"][0], results["cpu"][0], atol=1e-4)
    np.testing.assert_allclose(results["cuda"][1], results["cpu"][1], atol=1e-4)
    # the CUDA run's checkpoint, resumed on the CPU: nothing left to train, the CUDA model's predictions
    tr, va = _sets()
    m = _model(0, no_dropout)
    res = fit(m, tr, va, cfg, seed=0, device="cpu", checkpoint_path=tmp_path / "cuda.ckpt", resume=True)
    assert res.epochs_run == 3
    np.testing.assert_allclose(predict(m, va)["T0"], results["cuda"][1], atol=1e-5)


@pytest.mark.slow
def test_a_readers_objective_trains_in_emokds_loop():
    """fit(objective=...) takes a hand-written loss with the exercise's signature (chapter 05): written as
    emokd's kd_objective computes it, it trains the same model to the last digit; another loss trains
    another model."""
    from emokd.nn.losses import ccc_loss, feature_distance

    def mine(pred, target, student_features, teacher_features, mask, kd_weight):
        return ccc_loss(pred, target, mask) + kd_weight * feature_distance(teacher_features, student_features, mask)

    tr, va = _sets()
    teacher = _model(5)
    teacher.eval()
    tr_kd, va = _sets(knowledge=extract_knowledge(teacher, tr))
    out = {}
    for name, objective in (("emokd", None), ("mine", mine), ("ccc only", lambda p, t, s, h, m, w: ccc_loss(p, t, m))):
        model = _model()
        res = fit(model, tr_kd, va, dataclasses.replace(CFG, max_epochs=2), seed=0, kd=KDConfig(kd_weight=2.0),
                  objective=objective)
        out[name] = ([h["val_ccc"] for h in res.history], [p.detach().clone() for p in model.parameters()])
    assert out["emokd"][0] == out["mine"][0]
    assert all(torch.equal(a, b) for a, b in zip(out["emokd"][1], out["mine"][1]))
    assert not all(torch.equal(a, b) for a, b in zip(out["emokd"][1], out["ccc only"][1]))


def test_train_step_is_one_step_of_sgd_computed_by_hand():
    """emokd's step on a linear model, against w - lr * grad of the mean squared error in numpy: the loss
    before the step comes back as a float, the model is left in train mode, and a gradient held before the
    call does not count; with grad_clip the gradient's norm is clipped first."""
    from emokd.training.train import train_step

    rng = np.random.default_rng(3)
    x, y, w0 = rng.standard_normal((5, 3)), rng.standard_normal(5), np.array([0.3, -0.2, 0.1])
    r = x @ w0 - y
    grad = 2 * x.T @ r / len(y)
    for clip in (None, 0.01):
        model = torch.nn.Linear(3, 1, bias=False).double()
        with torch.no_grad():
            model.weight.copy_(torch.from_numpy(w0)[None])
        model.weight.grad = torch.ones_like(model.weight)  # left by an earlier backward
        model.eval()
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        loss = train_step(model, {"x": torch.from_numpy(x), "y": torch.from_numpy(y)}, opt,
                          lambda out, b: ((out[:, 0] - b["y"]) ** 2).mean(), grad_clip=clip)
        g = grad if clip is None else grad * clip / np.linalg.norm(grad)
        assert type(loss) is float and loss == pytest.approx(np.mean(r ** 2), rel=1e-12)
        np.testing.assert_allclose(model.weight.detach().numpy()[0], w0 - 0.1 * g, rtol=1e-6)
        assert model.training


@pytest.mark.slow
def test_a_readers_step_trains_in_emokds_loop():
    """fit(step=...) takes a hand-written step with the exercise's signature (chapter 05): zero_grad,
    forward, loss, backward, step trains the same model as emokd's own step to the last digit, gradient
    clipping included (fit clips inside optimiser.step()), with the same logged terms; a step that never
    calls loss_fn is an error that names it."""
    def mine(model, batch, optimiser, loss_fn):
        model.train()
        optimiser.zero_grad()
        loss = loss_fn(model(batch["x"]), batch)
        loss.backward()
        optimiser.step()
        return loss.item()

    tr, va = _sets()
    teacher = _model(5)
    teacher.eval()
    tr_kd, va = _sets(knowledge=extract_knowledge(teacher, tr))
    cfg = dataclasses.replace(CFG, max_epochs=2, grad_clip=0.05)  # small enough to clip every step
    out = {}
    for name, step in (("emokd", None), ("mine", mine)):
        model = _model()
        res = fit(model, tr_kd, va, cfg, seed=0, kd=KDConfig(kd_weight=2.0), step=step)
        out[name] = (res.history, [p.detach().clone() for p in model.parameters()])
    strip = [[{k: v for k, v in h.items() if k != "seconds"} for h in out[n][0]] for n in ("emokd", "mine")]
    assert strip[0] == strip[1] and "train_kd_loss" in strip[0][0]
    assert all(torch.equal(a, b) for a, b in zip(out["emokd"][1], out["mine"][1]))
    model = _model()
    unclipped = fit(model, tr_kd, va, dataclasses.replace(cfg, grad_clip=None), seed=0, kd=KDConfig(kd_weight=2.0),
                    step=mine)
    assert [h["val_ccc"] for h in unclipped.history] != [h["val_ccc"] for h in out["mine"][0]]

    def lazy(model, batch, optimiser, loss_fn):
        return 0.0

    with pytest.raises(EmokdError, match="'lazy' never called loss_fn"):
        fit(_model(), tr, va, cfg, seed=0, step=lazy)


def _budget_cases():
    """(config, budgets): one where every budget is reached, with the released code's reload of the best
    weights; one that stops early (a falling validation CCC, early_stop 1) before its last budget."""
    reached = dataclasses.replace(_noisy_cfg(True), max_epochs=7)
    stops = dataclasses.replace(_noisy_cfg(False), max_epochs=12, early_stop=1, lr_patience=1)
    return [(reached, (2, 5)), (stops, (3, 11))]


@pytest.mark.slow  # trains for several seconds
@pytest.mark.parametrize("case", range(2))
def test_a_shorter_budget_read_off_one_training_is_that_training(case, tmp_path):
    """What fit(max_epochs=E) returns, read off a longer training: the same best epoch, score, epochs run, stop
    and weights, bit for bit (also after an interruption: the budgets passed are in the checkpoint)."""
    cfg, budgets = _budget_cases()[case]
    tr, va = _sets()
    m = _model()
    long = fit(m, tr, va, cfg, seed=0, budgets=budgets)
    long_pred = predict(m, va)["T0"]
    assert sorted(long.budgets) == list(budgets)
    if case == 1:
        assert long.stopped == "early_stop" and long.epochs_run < budgets[-1], "the case must stop before a budget"
    for b in budgets:
        short_model = _model()
        short = fit(short_model, tr, va, dataclasses.replace(cfg, max_epochs=b), seed=0)
        at = long.budgets[b]
        assert (at.best_epoch, at.best_val_ccc, at.epochs_run, at.stopped) == \
            (short.best_epoch, short.best_val_ccc, short.epochs_run, short.stopped)
        for k, v in short_model.state_dict().items():
            assert torch.equal(at.state[k], v), k
    assert any(long.budgets[b].best_epoch != long.best_epoch for b in budgets), "the budgets must differ"
    # interrupted after the first budget and resumed: the same records, the same final model
    ck = tmp_path / "m.ckpt"
    with pytest.raises(_Stop):
        fit(_model(), tr, va, cfg, seed=0, checkpoint_path=ck, on_epoch_end=_stop_after(budgets[0] + 1),
            budgets=budgets)
    m2 = _model(seed=99)
    resumed = fit(m2, tr, va, cfg, seed=0, checkpoint_path=ck, resume=True, budgets=budgets)
    np.testing.assert_array_equal(predict(m2, va)["T0"], long_pred)
    for b in budgets:
        assert resumed.budgets[b].best_epoch == long.budgets[b].best_epoch
        assert all(torch.equal(resumed.budgets[b].state[k], v) for k, v in long.budgets[b].state.items())


def test_a_checkpoint_without_the_budgets_is_not_resumed_for_them(tmp_path):
    """A training checkpointed past a budget it was not asked for cannot give that budget: it starts over."""
    cfg = dataclasses.replace(CFG, max_epochs=3)
    tr, va = _sets()
    ck = tmp_path / "m.ckpt"
    with pytest.raises(_Stop):
        fit(_model(), tr, va, cfg, seed=0, checkpoint_path=ck, on_epoch_end=_stop_after(2))
    res = fit(_model(), tr, va, cfg, seed=0, checkpoint_path=ck, resume=True, budgets=(1,))
    assert res.history[0]["epoch"] == 1 and res.budgets[1].epochs_run == 1


@pytest.mark.parametrize("bad", [(0,), (6,), (2, 2), (1.5,), (True,)])
def test_budgets_outside_1_to_max_epochs_are_refused(bad):
    tr, va = _sets()
    with pytest.raises(EmokdError, match=r"budgets=.*from 1 to max_epochs - 1 = 5"):
        fit(_model(), tr, va, CFG, seed=0, budgets=bad, desc="m")
