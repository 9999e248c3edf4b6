"""emokd.teaching.exercises: every check passes a right answer, says "not implemented yet" for an unfilled
starter, and fails each typical mistake (each written here as a wrong function) with the words
that name it; strict=True raises instead."""

import numpy as np
import pytest
import torch
from scipy.integrate import simpson, trapezoid
from scipy.signal import welch

from emokd.teaching import exercises
from emokd.core.constants import BANDS
from emokd.training.datasets import Fold


def starter(*args):
    ...


# ------------------------------------------------------------------ CCC

def ccc_right(y_true, y_pred):
    t, p = np.asarray(y_true, float), np.asarray(y_pred, float)
    cov = np.mean((t - t.mean()) * (p - p.mean()))
    return 2 * cov / (t.var() + p.var() + (t.mean() - p.mean()) ** 2)


def ccc_is_pcc(y_true, y_pred):
    return np.corrcoef(y_true, y_pred)[0, 1]


def ccc_no_offset(y_true, y_pred):
    t, p = np.asarray(y_true, float), np.asarray(y_pred, float)
    return 2 * np.mean((t - t.mean()) * (p - p.mean())) / (t.var() + p.var())


def ccc_no_two(y_true, y_pred):
    return ccc_right(y_true, y_pred) / 2


def ccc_sample_moments(y_true, y_pred):
    c = np.cov(y_true, y_pred)  # ddof=1
    return 2 * c[0, 1] / (c[0, 0] + c[1, 1] + (np.mean(y_true) - np.mean(y_pred)) ** 2)


# --------------------------------------------------------- the masked loss

def _masked_ccc(pred, target, mask):
    n = mask.sum(1)
    mp, mt = (pred * mask).sum(1) / n, (target * mask).sum(1) / n
    dp, dt = (pred - mp[:, None]) * mask, (target - mt[:, None]) * mask
    cov, vp, vt = (dp * dt).sum(1) / n, (dp * dp).sum(1) / n, (dt * dt).sum(1) / n
    return 2 * cov / (vp + vt + (mp - mt) ** 2 + 1e-8)


def loss_right(pred, target, mask):
    return 1 - _masked_ccc(pred, target, mask).mean()


def loss_mask_ignored(pred, target, mask):
    return 1 - _masked_ccc(pred, target, torch.ones_like(mask)).mean()


def loss_returns_ccc(pred, target, mask):
    return _masked_ccc(pred, target, mask).mean()


def loss_divides_by_n_steps(pred, target, mask):
    n = torch.full_like(mask.sum(1), mask.shape[1])
    mp, mt = (pred * mask).sum(1) / n, (target * mask).sum(1) / n
    dp, dt = (pred - mp[:, None]) * mask, (target - mt[:, None]) * mask
    return 1 - (2 * (dp * dt).sum(1) / n / ((dp * dp).sum(1) / n + (dt * dt).sum(1) / n + (mp - mt) ** 2)).mean()


def loss_numpy(pred, target, mask):
    return torch.tensor(float(loss_right(pred, target, mask).detach()))


def loss_summed(pred, target, mask):
    return (1 - _masked_ccc(pred, target, mask)).sum()


# ----------------------------------------------------------- KD objective

def _l1(h, s, mask, over_features=True):
    d = (h - s).abs()
    d = d.mean(-1) if over_features else d.sum(-1)
    return (d * mask).sum() / mask.sum()


def kd_right(pred, target, s, h, mask, kd_weight):
    task = loss_right(pred.squeeze(-1), target, mask)
    kd = _l1(h, s, mask)
    total = task + kd_weight * kd
    return total, {"ccc_loss": task.item(), "kd_loss": kd.item(), "total": total.item()}


def kd_unweighted(pred, target, s, h, mask, kd_weight):
    task, kd = loss_right(pred.squeeze(-1), target, mask), _l1(h, s, mask)
    return task + kd, {"ccc_loss": task.item(), "kd_loss": kd.item(), "total": (task + kd).item()}


def kd_weight_on_ccc(pred, target, s, h, mask, kd_weight):
    task, kd = loss_right(pred.squeeze(-1), target, mask), _l1(h, s, mask)
    total = kd_weight * task + kd
    return total, {"ccc_loss": task.item(), "kd_loss": kd.item(), "total": total.item()}


def kd_logs_weighted_term(pred, target, s, h, mask, kd_weight):
    task, kd = loss_right(pred.squeeze(-1), target, mask), kd_weight * _l1(h, s, mask)
    return task + kd, {"ccc_loss": task.item(), "kd_loss": kd.item(), "total": (task + kd).item()}


def kd_mask_ignored(pred, target, s, h, mask, kd_weight):
    task, kd = loss_right(pred.squeeze(-1), target, mask), (h - s).abs().mean()
    total = task + kd_weight * kd
    return total, {"ccc_loss": task.item(), "kd_loss": kd.item(), "total": total.item()}


def kd_summed_features(pred, target, s, h, mask, kd_weight):
    task, kd = loss_right(pred.squeeze(-1), target, mask), _l1(h, s, mask, over_features=False)
    total = task + kd_weight * kd
    return total, {"ccc_loss": task.item(), "kd_loss": kd.item(), "total": total.item()}


def kd_no_terms(pred, target, s, h, mask, kd_weight):
    return kd_right(pred, target, s, h, mask, kd_weight)[0]


# -------------------------------------------------------------- LOSO split

def loso_right(subject_of, val_fraction=0.2, seed=0):
    keys = sorted(subject_of)
    folds = []
    for k, s in enumerate(sorted(set(subject_of.values()))):
        test = [key for key in keys if subject_of[key] == s]
        rest = [key for key in keys if subject_of[key] != s]
        order = np.random.default_rng([seed, k]).permutation(len(rest))
        n_val = max(1, round(val_fraction * len(rest)))
        val = sorted(rest[i] for i in order[:n_val])
        train = sorted(rest[i] for i in order[n_val:])
        folds.append(Fold(k, tuple(train), tuple(val), tuple(test)))
    return folds


def loso_by_trial(subject_of, val_fraction=0.2, seed=0):
    # the typical mistake: random trials per fold, as TRS does (a subject lands in train and test)
    keys = sorted(subject_of)
    order = np.random.default_rng(seed).permutation(len(keys))
    parts = np.array_split(order, len(set(subject_of.values())))
    folds = []
    for k, part in enumerate(parts):
        test = [keys[i] for i in part]
        rest = [key for key in keys if key not in test]
        n_val = round(val_fraction * len(rest))
        folds.append((rest[n_val:], rest[:n_val], test))
    return folds


def loso_val_from_everything(subject_of, val_fraction=0.2, seed=0):
    # validation drawn from all trials, the test subject's included
    keys = sorted(subject_of)
    folds = []
    for k, s in enumerate(sorted(set(subject_of.values()))):
        test = [key for key in keys if subject_of[key] == s]
        val = [test.pop()]
        rest = [key for key in keys if subject_of[key] != s]
        n_val = max(0, round(val_fraction * len(rest)) - 1)
        folds.append((rest[n_val:], val + rest[:n_val], test))
    return folds


def loso_test_in_train(subject_of, val_fraction=0.2, seed=0):
    keys = sorted(subject_of)
    folds = []
    for s in sorted(set(subject_of.values())):
        test = [key for key in keys if subject_of[key] == s]
        n_val = round(val_fraction * (len(keys) - len(test)))
        others = [key for key in keys if key not in test]
        folds.append((keys, others[:n_val], test))  # training = every trial
    return folds


def loso_global_rng(subject_of, val_fraction=0.2, seed=0):
    keys = sorted(subject_of)
    folds = []
    for s in sorted(set(subject_of.values())):
        test = [key for key in keys if subject_of[key] == s]
        rest = [key for key in keys if subject_of[key] != s]
        rest = list(np.random.permutation(rest))  # ignores the seed
        n_val = round(val_fraction * len(rest))
        folds.append((rest[n_val:], rest[:n_val], test))
    return folds


def loso_assumes_ids(subject_of, val_fraction=0.2, seed=0):
    # subjects numbered 1..n: here there is no subject 1 and folds come out empty or missing
    return [f for f in loso_right({k: s for k, s in subject_of.items() if s <= 4}, val_fraction, seed)]


# ------------------------------------------------------- relative band power

def _bands(window, sfreq, integrate=simpson, closed=True):
    f, psd = welch(window, fs=sfreq, nperseg=int(sfreq))  # (n_chans, n_freqs)
    sel = [(f >= lo) & (f <= hi) if closed else (f >= lo) & (f < hi) for lo, hi in BANDS]
    return np.array([integrate(psd[:, s], x=f[s], axis=-1) for s in sel]), integrate(psd, x=f, axis=-1)


def bp_right(window, sfreq):
    p, total = _bands(window, sfreq)
    return p / total


def bp_absolute(window, sfreq):
    return _bands(window, sfreq)[0]


def bp_share_of_bands(window, sfreq):
    p, _ = _bands(window, sfreq)
    return p / p.sum(axis=0)


def bp_open_edges(window, sfreq):
    p, total = _bands(window, sfreq, closed=False)
    return p / total


def bp_trapezoid(window, sfreq):
    p, total = _bands(window, sfreq, integrate=trapezoid)
    return p / total


def bp_transposed(window, sfreq):
    return bp_right(window, sfreq).T


def bp_assumes_256(window, sfreq):
    return bp_right(window, 256.0)


def bp_one_periodogram(window, sfreq):
    f, psd = welch(window, fs=sfreq, nperseg=window.shape[1])
    sel = [(f >= lo) & (f <= hi) for lo, hi in BANDS]
    return np.array([simpson(psd[:, s], x=f[s], axis=-1) for s in sel]) / simpson(psd, x=f, axis=-1)


# ------------------------------------------------------------ a training step

def step_right(model, batch, optimiser, loss_fn):
    model.train()
    optimiser.zero_grad()
    loss = loss_fn(model(batch["x"]), batch)
    loss.backward()
    optimiser.step()
    return loss.item()


def step_no_zero_grad(model, batch, optimiser, loss_fn):
    model.train()
    loss = loss_fn(model(batch["x"]), batch)
    loss.backward()
    optimiser.step()
    return loss.item()


def step_zero_grad_at_the_end(model, batch, optimiser, loss_fn):
    model.train()
    loss = loss_fn(model(batch["x"]), batch)
    loss.backward()
    optimiser.step()
    optimiser.zero_grad()
    return loss.item()


def step_returns_the_loss_after(model, batch, optimiser, loss_fn):
    step_right(model, batch, optimiser, loss_fn)
    with torch.no_grad():
        return loss_fn(model(batch["x"]), batch).item()


def step_in_eval_mode(model, batch, optimiser, loss_fn):
    optimiser.zero_grad()
    loss = loss_fn(model(batch["x"]), batch)
    loss.backward()
    optimiser.step()
    return loss.item()


def step_leaves_eval_mode(model, batch, optimiser, loss_fn):
    loss = step_right(model, batch, optimiser, loss_fn)
    model.eval()
    return loss


def step_before_backward(model, batch, optimiser, loss_fn):
    model.train()
    optimiser.zero_grad()
    loss = loss_fn(model(batch["x"]), batch)
    optimiser.step()
    loss.backward()
    return loss.item()


def step_no_backward(model, batch, optimiser, loss_fn):
    model.train()
    optimiser.zero_grad()
    loss = loss_fn(model(batch["x"]), batch)
    optimiser.step()
    return loss.item()


def step_own_mse(model, batch, optimiser, loss_fn):  # ignores the loss function it is given
    model.train()
    optimiser.zero_grad()
    loss = torch.nn.functional.mse_loss(model(batch["x"]), batch["y"])
    loss.backward()
    optimiser.step()
    return loss.item()


def step_returns_the_tensor(model, batch, optimiser, loss_fn):
    model.train()
    optimiser.zero_grad()
    loss = loss_fn(model(batch["x"]), batch)
    loss.backward()
    optimiser.step()
    return loss


def step_own_optimiser(model, batch, optimiser, loss_fn):
    adam = torch.optim.Adam(model.parameters(), lr=0.1)
    model.train()
    adam.zero_grad()
    loss = loss_fn(model(batch["x"]), batch)
    loss.backward()
    adam.step()
    return loss.item()


CHECKS = {
    "ccc": (exercises.check_ccc, ccc_right, [
        (ccc_is_pcc, "Pearson"), (ccc_no_offset, "(mean(y) - mean(ŷ))²"), (ccc_no_two, "factor 2"),
        (ccc_sample_moments, "n - 1")]),
    "ccc_loss": (exercises.check_ccc_loss, loss_right, [
        (loss_mask_ignored, "the mask is ignored: padded steps changed your loss"), (loss_returns_ccc, "not the loss"),
        (loss_divides_by_n_steps, "number of valid steps"), (loss_numpy, "no gradient"),
        (loss_summed, "summed")]),
    "kd_objective": (exercises.check_kd_objective, kd_right, [
        (kd_unweighted, "the KD term is not weighted by kd_weight"), (kd_weight_on_ccc, "multiplies the CCC term"),
        (kd_logs_weighted_term, "already multiplied by kd_weight"), (kd_mask_ignored, "mask is ignored"),
        (kd_summed_features, "n_features times too large"), (kd_no_terms, "return two things")]),
    "loso_folds": (exercises.check_loso_folds, loso_right, [
        (loso_by_trial, "is in both train and test"), (loso_val_from_everything, "in both validation and test"),
        (loso_test_in_train, "in both train and test"), (loso_global_rng, "same seed"),
        (loso_assumes_ids, "one per subject")]),
    "band_power": (exercises.check_band_power, bp_right, [
        (bp_absolute, "absolute powers"), (bp_share_of_bands, "sum of the six bands"),
        (bp_open_edges, "lo <= f <= hi"), (bp_trapezoid, "trapezoidal"), (bp_transposed, "(channels, bands)"),
        (bp_assumes_256, "expected"), (bp_one_periodogram, "one periodogram")]),
    "train_step": (exercises.check_train_step, step_right, [
        (step_no_zero_grad, "gradients accumulate across calls"), (step_zero_grad_at_the_end, "not only at its end"),
        (step_returns_the_loss_after, "returns the loss after the step"), (step_in_eval_mode, "call model.train()"),
        (step_leaves_eval_mode, "leaves the model in eval mode"), (step_before_backward, "runs before loss.backward()"),
        (step_no_backward, "never calls loss.backward()"), (step_own_mse, "never calls loss_fn"),
        (step_returns_the_tensor, "returns a tensor"), (step_own_optimiser, "of the optimiser it is given")]),
}


@pytest.mark.parametrize("name", CHECKS)
def test_the_right_answer_passes_and_a_starter_is_not_implemented_yet(name):
    check, right, _ = CHECKS[name]
    v = check(right, strict=True)
    assert v.passed and bool(v) and "correct" in repr(v)
    v = check(starter)
    assert v.status == "not implemented" and "not implemented yet" in repr(v)
    with pytest.raises(exercises.ExerciseError, match="not implemented yet"):
        check(starter, strict=True)


MISTAKES = [(name, wrong, words) for name, (_, _, ms) in CHECKS.items() for wrong, words in ms]


@pytest.mark.parametrize("name, wrong, words", MISTAKES, ids=[w.__name__ for _, w, _ in MISTAKES])
def test_each_typical_mistake_fails_with_words_that_name_it(name, wrong, words):
    check = CHECKS[name][0]
    v = check(wrong)
    assert v.status == "failed", repr(v)
    assert words in v.message, v.message
    with pytest.raises(exercises.ExerciseError):
        check(wrong, strict=True)


def test_an_exception_in_the_students_code_is_a_verdict_not_a_traceback():
    def broken(y_true, y_pred):
        return y_true.nonexistent

    v = exercises.check_ccc(broken)
    assert v.status == "failed" and "AttributeError" in v.message


@pytest.mark.parametrize("name", ["ccc", "ccc_loss", "kd_objective", "loso_folds", "band_power", "train_step"])
def test_exit_in_the_students_code_is_a_failed_check_not_the_end_of_the_kernel(name):
    """sys.exit() in a student's function raised SystemExit out of the check (it is no Exception)."""
    import sys

    def quits(*args):
        sys.exit(3)

    v = getattr(exercises, f"check_{name}")(quits)
    assert v.status == "failed" and "called exit() (SystemExit: 3)" in v.message
    with pytest.raises(exercises.ExerciseError, match="called exit"):
        getattr(exercises, f"check_{name}")(quits, strict=True)


def test_a_starter_raising_not_implemented_error_is_not_implemented_yet():
    def todo(window, sfreq):
        raise NotImplementedError

    assert exercises.check_band_power(todo).status == "not implemented"


def test_a_step_that_runs_emokds_train_step_is_flagged_and_a_step_that_forgets_to_return_fails():
    """The known answers hold for emokd's own step, so only the own-work flag tells it apart; a step that
    trains right but returns nothing is a mistake to name, not an unfinished starter."""
    from emokd.training import train

    def calls_emokds(model, batch, optimiser, loss_fn):
        return train.train_step(model, batch, optimiser, loss_fn)

    v = exercises.check_train_step(calls_emokds)
    assert v.status == "flagged" and "emokd.training.train.train_step" in v.message
    with pytest.raises(exercises.ExerciseError, match="not your own work"):
        exercises.check_train_step(calls_emokds, strict=True)

    def forgets_to_return(model, batch, optimiser, loss_fn):
        step_right(model, batch, optimiser, loss_fn)

    v = exercises.check_train_step(forgets_to_return)
    assert v.status == "failed" and "returns nothing" in v.message

