"""Train, evaluate and distil: one network at a time.

* :func:`train_step` -- one step of gradient descent on one batch (what :func:`fit`
  takes for every batch; a reader's own step can take its place).
* :func:`fit` -- Adam; ReduceLROnPlateau on validation CCC; early stopping; the
  best epoch by validation CCC is restored at the end (or, with
  ``reload_best_each_epoch``, at the end of every epoch). Optional feature
  distillation from cached teacher knowledge (``kd``). Writes a per-epoch log
  (JSON lines) and atomic checkpoints (every epoch, or every few seconds) from which ``resume=True``
  continues with exactly the same result as an uninterrupted run.
* :func:`predict` -- one trace per trial, overlapping windows averaged.
* :func:`extract_knowledge` -- the frozen teacher's feature sequence for every
  window of the given (training and validation) trials.
* :func:`save_model` / :func:`load_model` -- state dict + config JSON; read back as a :class:`SavedModel`.

Randomness: ``fit`` seeds torch once (``torch.manual_seed(seed)``, for dropout)
and draws the epoch order and the frame augmentation from its own
``numpy.random.Generator``; both states go into the checkpoint. Same seed, same
machine, same thread count: identical results on a CPU. CUDA kernels may not be
bit-identical between runs.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import logging
import pickle
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..core.config import KDConfig, ModelConfig, TrainConfig
from .datasets import WindowSet, overlap_average
from ..errors import EmokdError
from ..nn.losses import kd_objective
from ..core.metrics import ccc as ccc_metric
from ..core.fileio import torch_save, write_text
from ..nn.backbone import load_state, read_weights
from ..nn.models import FeatureProjection, build_model

log = logging.getLogger(__name__)


def save_model(model: torch.nn.Module, cfg: ModelConfig, path, extra: dict | None = None) -> None:
    """Write ``{"state_dict", "config" (JSON text), **extra}`` atomically (:func:`load_model` reads it)."""
    torch_save({"state_dict": model.state_dict(), "config": json.dumps(dataclasses.asdict(cfg)),
                        **(extra or {})}, path)


@dataclass(frozen=True)
class SavedModel:
    """A trained model read back from its file (:func:`load_model`): the network (``model``, in eval mode,
    on the device asked for), its :class:`~emokd.core.config.ModelConfig` (``config``) and what else
    :func:`save_model` stored (``extra``: e.g. ``best_epoch``, ``fold``, ``model``)."""

    model: torch.nn.Module
    config: ModelConfig
    extra: dict


def load_model(path, *, device: str = "cpu") -> SavedModel:
    """Rebuild a trained model from :func:`save_model`'s file (its config is inside).

    The weights go through :func:`emokd.nn.backbone.load_state`, the one checked step every trained
    weights file of emokd takes: a file that is not a model file, or whose weights do not fit the
    network its config builds, is an EmokdError naming it.
    """
    ckpt = read_weights(path, map_location=device)
    try:
        cfg = ModelConfig.from_json(json.loads(ckpt["config"]))
    except (KeyError, TypeError, json.JSONDecodeError) as err:
        raise EmokdError(f"{path}: not an emokd model file (its 'config': {type(err).__name__}: {err})") from None
    if "state_dict" not in ckpt:
        raise EmokdError(f"{path}: not an emokd model file (no 'state_dict')")
    model = load_state(build_model(cfg), ckpt["state_dict"], path)
    extra = {k: v for k, v in ckpt.items() if k not in ("state_dict", "config")}
    return SavedModel(model.to(device).eval(), cfg, extra)


def _to_torch(batch: dict, device) -> dict:
    return {k: torch.from_numpy(v).to(device) for k, v in batch.items()}


@torch.no_grad()
def _forward_windows(model, wset: WindowSet, device, batch_size: int, features: bool):
    model.eval()
    preds, feats = [], []
    for lo in range(0, len(wset), batch_size):
        b = _to_torch(wset.batch(range(lo, min(lo + batch_size, len(wset)))), device)
        p, f = model(b["x"])  # (B, W, 1), (B, W, C)
        preds.append(p[..., 0].cpu().numpy())
        if features:
            feats.append(f.cpu().numpy())
    preds = np.concatenate(preds) if preds else np.zeros((0, wset.window_steps))
    feats = np.concatenate(feats) if features else None
    return preds, feats


def predict(model, wset: WindowSet, *, device="cpu", batch_size: int = 16) -> dict[str, np.ndarray]:
    """Predicted valence per trial: key -> (n_steps,) float32 (windows averaged)."""
    preds, _ = _forward_windows(model, wset, device, batch_size, features=False)
    out, i = {}, 0
    for t in wset.trials:
        starts = wset.starts[t["key"]]
        out[t["key"]] = overlap_average(preds[i:i + len(starts)], starts, len(t["valence"]))
        i += len(starts)
    return out


def extract_knowledge(teacher, wset: WindowSet, *, device="cpu", batch_size: int = 16) -> dict[str, np.ndarray]:
    """The teacher's feature sequence of every window: key -> (n_windows, W, C) float32.

    The teacher is evaluated frozen (eval mode, no gradients, middle frame and
    centre crop). Call it only with training and validation trials.
    """
    _, feats = _forward_windows(teacher, wset, device, batch_size, features=True)
    return _by_trial(wset, feats)


def _by_trial(wset: WindowSet, windows: np.ndarray) -> dict[str, np.ndarray]:
    """Per-window outputs in the set's order (n_windows_total, ...) -> key -> that trial's (n_windows, ...)
    float32."""
    out, i = {}, 0
    for t in wset.trials:
        n = len(wset.starts[t["key"]])
        out[t["key"]] = windows[i:i + n].astype(np.float32)
        i += n
    return out


def window_predictions(model, wset: WindowSet, *, device="cpu", batch_size: int = 16) -> dict[str, np.ndarray]:
    """The model's predicted valence for every window: key -> (n_windows, W) float32 (eval mode, no
    gradients; the targets of output distillation and self-training, :class:`WindowSet` ``targets``)."""
    preds, _ = _forward_windows(model, wset, device, batch_size, features=False)
    return _by_trial(wset, preds)


def evaluate_ccc(model, wset: WindowSet, *, device="cpu", batch_size: int = 16) -> float:
    """CCC of the concatenated, window-averaged traces of ``wset``'s trials."""
    pred = predict(model, wset, device=device, batch_size=batch_size)
    keys = [t["key"] for t in wset.trials]
    true = np.concatenate([np.asarray(t["valence"]) for t in wset.trials])
    return ccc_metric(true, np.concatenate([pred[k] for k in keys]))


def train_step(model: torch.nn.Module, batch: dict, optimiser: torch.optim.Optimizer, loss_fn, *,
               grad_clip: float | None = None, params=None) -> float:
    """One step of gradient descent on one batch; returns the batch's loss before the step.

    In order: ``model.train()`` (dropout on); the gradients zeroed (``optimiser.zero_grad()``);
    ``loss = loss_fn(model(batch["x"]), batch)`` (the forward pass, then the loss, a scalar tensor);
    ``loss.backward()``; with ``grad_clip``, the gradients' total norm over ``params`` (default: the
    model's) clipped to it; ``optimiser.step()``.

    Parameters
    ----------
    model : torch.nn.Module
        Called as ``model(batch["x"])``; its output, whatever it is (emokd's models return
        ``(pred, features)``), goes to ``loss_fn`` unchanged.
    batch : dict of tensors
        At least ``"x"``; :func:`fit` passes ``"x"`` (B, W, n_features), ``"y"`` and ``"mask"`` (B, W)
        and, when it has them, ``"knowledge"`` (B, W, C).
    loss_fn : callable(output, batch) -> scalar tensor

    Returns
    -------
    loss : float
        ``loss_fn``'s value before the step (a float, not the tensor: a caller that keeps it keeps no graph).

    Chapter 05's reader writes the same step without the clipping (checked by
    :func:`emokd.teaching.exercises.check_train_step`) and trains with it: ``fit(..., step=fn)``.
    """
    model.train()
    optimiser.zero_grad(set_to_none=True)
    loss = loss_fn(model(batch["x"]), batch)
    loss.backward()
    if grad_clip is not None:
        torch.nn.utils.clip_grad_norm_(list(params) if params is not None else list(model.parameters()), grad_clip)
    optimiser.step()
    return float(loss.detach())


class _BatchLoss:
    """The ``loss_fn(output, batch)`` that :func:`fit` hands to a training step: the objective on the model's
    output (its features through the projection, when there is one); keeps the named terms of its last call."""

    def __init__(self, projection, objective, kd_weight: float, feature_loss: str):
        self.projection, self.objective = projection, objective
        self.kd_weight, self.feature_loss = kd_weight, feature_loss
        self.terms: dict | None = None

    def __call__(self, output, batch: dict) -> torch.Tensor:
        pred, feats = output  # (B, W, 1), (B, W, C)
        if self.projection is not None:
            feats = self.projection(feats)
        if self.objective is None:
            loss, terms = kd_objective(pred, batch["y"], feats, batch.get("knowledge"), batch["mask"],
                                       kd_weight=self.kd_weight, feature_loss=self.feature_loss,
                                       labelled=batch.get("labelled"), teacher_output=batch.get("target"))
        else:  # a reader's own objective
            out = self.objective(pred, batch["y"], feats, batch.get("knowledge"), batch["mask"], self.kd_weight)
            loss, terms = out if isinstance(out, tuple) else (out, {"total": float(out.detach())})
        self.terms = terms
        return loss


@dataclass
class FitResult:
    """What :func:`fit` did: the best epoch (1-based), its validation CCC, the history."""

    best_epoch: int
    best_val_ccc: float
    epochs_run: int
    stopped: str
    history: list = field(default_factory=list)
    projection: torch.nn.Module | None = None
    #: ``fit(..., budgets=)``: {budget: the training as it stood after that many epochs}
    budgets: dict = field(default_factory=dict)


@dataclass
class BudgetResult:
    """A shorter training read off a longer one: what ``fit`` with ``max_epochs = budget`` would have
    returned (the best epoch up to then, its validation CCC and weights, the epochs run and why it
    stopped). Nothing in :func:`fit` but the loop's end depends on ``max_epochs``, so the two are the
    same training (``tests/training/test_train.py`` checks it bit for bit)."""

    budget: int
    best_epoch: int
    best_val_ccc: float
    epochs_run: int
    stopped: str
    state: dict

    def to_checkpoint(self) -> dict:
        return {"budget": self.budget, "best_epoch": self.best_epoch, "best_val_ccc": self.best_val_ccc,
                "epochs_run": self.epochs_run, "stopped": self.stopped, "state": self.state}


def _make_projection(model, train_set: WindowSet, kd: KDConfig | None):
    if kd is None or train_set.knowledge is None:
        return None
    n_teacher = next(iter(train_set.knowledge.values())).shape[-1]
    differ = n_teacher != model.n_features
    if kd.projection == "none" and differ:
        raise EmokdError(f"student features ({model.n_features}) and teacher features ({n_teacher}) differ; "
                         "use projection='auto' or 'linear'")
    if kd.projection == "linear" or (kd.projection == "auto" and differ):
        return FeatureProjection(model.n_features, n_teacher)
    return None


def fit(model: torch.nn.Module, train_set: WindowSet, val_set: WindowSet, cfg: TrainConfig, *, seed: int,
        device="cpu", kd: KDConfig | None = None, log_path=None, checkpoint_path=None, resume: bool = False,
        progress: bool = False, desc: str = "", on_epoch_end=None, input_recipe: dict | None = None,
        checkpoint_every_s: float = 0.0, objective=None, step=None, budgets=()) -> FitResult:
    """Train ``model`` in place; the best epoch's weights are loaded at the end.

    Parameters
    ----------
    train_set, val_set : WindowSet
        With ``train_set.knowledge`` set and ``kd`` given, the loss is
        ``(1 - CCC) + kd.kd_weight * D(teacher, student)``; with ``train_set.targets`` instead,
        ``(1 - CCC) + kd.kd_weight * (1 - CCC(prediction, target))`` (output distillation,
        :func:`emokd.nn.losses.kd_objective`); otherwise ``1 - CCC``. Windows of trials whose labels
        are withheld add to the teacher's term only.
    cfg : TrainConfig
    seed : int
    log_path : path, optional
        JSON lines, one per epoch: lr, training loss and its terms, validation CCC.
    checkpoint_path : path, optional
        Written atomically after an epoch (see ``checkpoint_every_s``) and after
        the last one; with ``resume=True`` and an existing file, training
        continues from it (from an older epoch, the epochs after it are trained
        again, to the same result).
    checkpoint_every_s : float
        Seconds since the last checkpoint after which an epoch writes one: 0 (the
        default) after every epoch. A checkpoint costs about 25 ms on a CPU, a
        short epoch 0.3 s: :func:`emokd.training.fold.run_fold` writes one every 10 s.
    on_epoch_end : callable(epoch, record), optional
        Called after the epoch's checkpoint (when one is due) is written (tests use
        it to interrupt).
    input_recipe : dict, optional
        JSON-ready description of how the inputs were made (e.g. their
        normalisation); part of the checkpoint's identity, so a checkpoint trained
        on other inputs is not resumed. (A checkpoint written before 2026-12, which
        called it ``inputs``, is still resumed.)
    objective : callable, optional
        Your own loss instead of :func:`emokd.nn.losses.kd_objective`, called as
        ``objective(pred, target, student_features, teacher_features, mask, kd_weight)`` with
        pred (B, W, 1), target and mask (B, W), the features (B, W, C) (``teacher_features``
        None without knowledge), returning the loss (a scalar tensor) or ``(loss, terms)``
        like ``kd_objective``: a reader's objective trains in emokd's loop (chapter 05). Not
        with withheld labels or target traces (those need ``kd_objective``'s arguments).
    step : callable, optional
        Your own training step instead of :func:`train_step`, called for every batch as
        ``step(model, batch, optimiser, loss_fn)`` (the arguments of :func:`train_step`; ``loss_fn``
        computes the objective from ``model(batch["x"])``); what it returns is not used (the logged
        terms come from ``loss_fn``). With ``cfg.grad_clip`` the gradients are clipped inside
        ``optimiser.step()`` (a step pre-hook), so a step that does zero_grad, forward, loss, backward
        and step trains exactly as :func:`train_step` does (chapter 05).
    budgets : sequence of int, optional
        Shorter budgets (each ``1 <= budget < cfg.max_epochs``) read off this training:
        ``FitResult.budgets[b]`` is what ``fit`` with ``max_epochs=b`` would return
        (:class:`BudgetResult`, with the weights it would load), from one training instead of
        one per budget. The model ends at the full budget's best epoch, as without them.
    """
    device = torch.device(device)
    budgets = _check_budgets(budgets, cfg, desc)
    torch.manual_seed(seed)
    if objective is not None and (train_set.has_unlabelled or train_set.targets is not None):
        raise EmokdError(f"{desc}: a custom objective cannot train on withheld labels or target traces")
    state = _Training.start(model, train_set, cfg, seed=seed, device=device, kd=kd, input_recipe=input_recipe,
                            desc=desc, budgets=budgets)
    if resume and checkpoint_path is not None and Path(checkpoint_path).exists():
        state.resume_from(checkpoint_path)
    if step is not None and cfg.grad_clip is not None:  # a reader's step need not clip: optimiser.step() does
        params, max_norm = state.params, cfg.grad_clip

        def clip(optimiser, args, kwargs) -> None:  # a pre-hook returns None (or new arguments)
            torch.nn.utils.clip_grad_norm_(params, max_norm)

        state.opt.register_step_pre_hook(clip)
    if log_path is not None:  # the log always equals the history (rewritten on resume)
        _write_lines(log_path, state.history)
    kd_weight = kd.kd_weight if kd is not None else 0.0
    feature_loss = kd.feature_loss if kd is not None else "l1"
    saved, last_save = state.start_epoch - 1, time.perf_counter()
    stopped = "max_epochs"
    bar = _progress(range(state.start_epoch, cfg.max_epochs + 1), progress, desc)
    for epoch in bar:
        if state.history and epoch - state.best.epoch > cfg.early_stop:
            stopped = "early_stop"
            break
        t0 = time.perf_counter()
        means = _train_epoch(state, train_set, cfg, device, kd_weight=kd_weight, feature_loss=feature_loss,
                             objective=objective, step=step)
        val_ccc = evaluate_ccc(state.model, val_set, device=device)
        if not np.isfinite(val_ccc):
            val_ccc = -1.0  # a constant prediction: worse than anything useful
        record = {"epoch": epoch, "lr": state.opt.param_groups[0]["lr"],
                  **{f"train_{k}": v for k, v in means.items()},
                  "val_ccc": val_ccc, "seconds": round(time.perf_counter() - t0, 3)}
        state.end_epoch(record, reload_best=cfg.reload_best_each_epoch)
        if epoch in budgets:
            state.keep_budget(epoch, "max_epochs")
        if hasattr(bar, "set_postfix"):
            bar.set_postfix(val_ccc=f"{val_ccc:.3f}", best=f"{state.best.ccc:.3f}")
        if log_path is not None:
            _append_line(log_path, record)
        if checkpoint_path is not None and time.perf_counter() - last_save >= checkpoint_every_s:
            state.save(checkpoint_path, epoch)
            saved, last_save = epoch, time.perf_counter()
        if on_epoch_end is not None:
            on_epoch_end(epoch, record)
    if checkpoint_path is not None and state.history and saved < state.history[-1]["epoch"]:
        state.save(checkpoint_path, state.history[-1]["epoch"])  # the state after the last epoch (unchanged since)
    if state.best.state is None:
        raise EmokdError(f"{desc}: no epoch was trained (max_epochs={cfg.max_epochs})")
    for b in budgets:  # stopped early, before epoch b: a run with budget b stopped there too
        if b not in state.budgets:
            state.keep_budget(b, stopped)
    state.load_best()
    return FitResult(state.best.epoch, float(state.best.ccc), len(state.history), stopped, state.history,
                     state.projection, budgets={b: state.budgets[b] for b in budgets})


def _check_budgets(budgets, cfg: TrainConfig, desc: str) -> tuple[int, ...]:
    """``budgets`` as a sorted tuple of distinct whole numbers ``1 <= b < cfg.max_epochs`` (EmokdError else)."""
    out = tuple(sorted(set(budgets)))
    if len(out) != len(tuple(budgets)) or not all(isinstance(b, (int, np.integer)) and not isinstance(b, bool)
                                                  and 1 <= b < cfg.max_epochs for b in out):
        raise EmokdError(f"{desc}: budgets={tuple(budgets)!r}: need distinct whole numbers from 1 to "
                         f"max_epochs - 1 = {cfg.max_epochs - 1}")
    return tuple(int(b) for b in out)


@dataclass
class _Best:
    """The best epoch so far by validation CCC and its weights (model, projection)."""

    epoch: int = 0
    ccc: float = -np.inf
    state: dict | None = None
    proj: dict | None = None


@dataclass
class _Training:
    """Everything :func:`fit` carries from epoch to epoch, and what its checkpoint holds: the model and
    its projection, the optimiser and LR schedule, the generator of the epoch order and the frame
    draws, the history and the best epoch. ``identity`` says which training a checkpoint belongs to;
    ``accepted`` are the identities a checkpoint of it may carry (``identity``, and the same training as an
    older emokd wrote it)."""

    model: torch.nn.Module
    projection: torch.nn.Module | None
    params: list
    opt: torch.optim.Optimizer
    sched: object
    rng: np.random.Generator
    identity: str
    accepted: tuple
    desc: str
    device: torch.device
    history: list = field(default_factory=list)
    best: _Best = field(default_factory=_Best)
    start_epoch: int = 1
    budgets: dict = field(default_factory=dict)  # budget -> BudgetResult, kept as the training passes it

    @classmethod
    def start(cls, model, train_set: WindowSet, cfg: TrainConfig, *, seed: int, device, kd, input_recipe, desc,
              budgets=()):
        rng = np.random.default_rng([seed, 2])
        model.to(device)
        projection = _make_projection(model, train_set, kd)
        params = list(model.parameters()) + (list(projection.parameters()) if projection is not None else [])
        if projection is not None:
            projection.to(device)
        opt = torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
        sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, mode="max", factor=cfg.lr_factor,
                                                           patience=cfg.lr_patience, min_lr=cfg.lr_min)
        if train_set.knowledge is not None and train_set.targets is not None:
            raise EmokdError(f"{desc}: a training set with both teacher features and target traces")
        taught = train_set.knowledge is not None or train_set.targets is not None
        fields = {"train": cfg.to_json(), "seed": seed, "model": type(model).__name__,
                  "n_params": sum(p.numel() for p in params),
                  "kd": dataclasses.asdict(kd) if kd is not None and taught else None,
                  **({"kd_target": "output"} if kd is not None and train_set.targets is not None else {}),
                  **({"unlabelled": True} if train_set.has_unlabelled else {}),
                  # a checkpoint without the shorter budgets' records cannot give them: another training
                  **({"budgets": list(budgets)} if budgets else {})}

        def identity(recipe_key: str) -> str:
            return json.dumps({**fields, **({recipe_key: input_recipe} if input_recipe is not None else {})},
                              sort_keys=True)

        # until 2026-12 the recipe was stored as "inputs": such a checkpoint is the same training
        accepted = (identity("input_recipe"), identity("inputs"))
        return cls(model, projection, params, opt, sched, rng, accepted[0], accepted, desc, device)

    def resume_from(self, path) -> None:
        """Continue from the checkpoint at ``path`` when it is this training's (else a warning, and start)."""
        try:
            ckpt = torch.load(path, map_location=self.device, weights_only=True)
        except (OSError, RuntimeError, EOFError, pickle.UnpicklingError) as err:
            raise EmokdError(f"{path}: unreadable checkpoint ({type(err).__name__}: {err}); rerun with "
                             "--fresh to train from the start") from None
        if not isinstance(ckpt, dict) or ckpt.get("identity") not in self.accepted:
            log.warning("%s: ignoring checkpoint %s made with other settings", self.desc, path)
            return
        self.model.load_state_dict(ckpt["model"])
        if self.projection is not None:
            self.projection.load_state_dict(ckpt["projection"])
        self.opt.load_state_dict(ckpt["optimizer"])
        self.sched.load_state_dict(ckpt["scheduler"])
        self.rng.bit_generator.state = json.loads(ckpt["numpy_rng"])
        torch.set_rng_state(ckpt["torch_rng"])
        self.history = json.loads(ckpt["history"])
        self.best = _Best(ckpt["best_epoch"], ckpt["best_ccc"], ckpt["best_model"], ckpt.get("best_projection"))
        self.budgets = {b["budget"]: BudgetResult(**b) for b in ckpt.get("budgets", [])}
        self.start_epoch = ckpt["epoch"] + 1
        log.info("%s: resuming after epoch %d", self.desc, ckpt["epoch"])

    def save(self, path, epoch: int) -> None:
        """The checkpoint after ``epoch`` (atomically)."""
        torch_save({
            "model": self.model.state_dict(), "optimizer": self.opt.state_dict(), "scheduler": self.sched.state_dict(),
            "projection": self.projection.state_dict() if self.projection is not None else None,
            "epoch": epoch, "best_epoch": self.best.epoch, "best_ccc": float(self.best.ccc),
            "best_model": self.best.state, "best_projection": self.best.proj,
            "numpy_rng": json.dumps(self.rng.bit_generator.state), "torch_rng": torch.get_rng_state(),
            "history": json.dumps(self.history), "identity": self.identity,
            **({"budgets": [b.to_checkpoint() for b in self.budgets.values()]} if self.budgets else {}),
        }, path)

    def keep_budget(self, budget: int, stopped: str) -> None:
        """Record what a training of ``budget`` epochs would return, as the training stands now."""
        self.budgets[budget] = BudgetResult(budget, self.best.epoch, float(self.best.ccc), len(self.history),
                                            stopped, copy.deepcopy(self.best.state))

    def end_epoch(self, record: dict, *, reload_best: bool) -> None:
        """The LR schedule's step, the history, and the best epoch (or, with ``reload_best``, back to it)."""
        self.sched.step(record["val_ccc"])
        self.history.append(record)
        if record["val_ccc"] > self.best.ccc:
            self.best = _Best(record["epoch"], record["val_ccc"], copy.deepcopy(self.model.state_dict()),
                              copy.deepcopy(self.projection.state_dict()) if self.projection is not None else None)
        elif reload_best:  # the next epoch starts from the best weights (optimiser state kept)
            self.model.load_state_dict(self.best.state)
            if self.projection is not None:
                self.projection.load_state_dict(self.best.proj)

    def load_best(self) -> None:
        self.model.load_state_dict(self.best.state)
        if self.projection is not None:
            self.projection.load_state_dict(self.best.proj)


def _train_epoch(state: _Training, train_set: WindowSet, cfg: TrainConfig, device, *, kd_weight: float,
                 feature_loss: str, objective=None, step=None) -> dict[str, float]:
    """One epoch over (a fresh random share of) the training windows, a :func:`train_step` (or ``step``)
    per batch; the mean of each loss term."""
    state.model.train()
    if state.projection is not None:
        state.projection.train()
    order = state.rng.permutation(len(train_set))  # reshuffled every epoch
    if cfg.epoch_fraction < 1.0:  # a shorter epoch: a fresh random share of the windows
        order = order[:max(1, round(len(order) * cfg.epoch_fraction))]
    sums, n_batches = {}, 0
    for lo in range(0, len(order), cfg.batch_size):
        b = _to_torch(train_set.batch(order[lo:lo + cfg.batch_size], train=True, rng=state.rng), device)
        loss_fn = _BatchLoss(state.projection, objective, kd_weight, feature_loss)
        if step is None:
            train_step(state.model, b, state.opt, loss_fn, grad_clip=cfg.grad_clip, params=state.params)
        else:  # a reader's own step (fit clips, if at all, in the optimiser's step)
            step(state.model, b, state.opt, loss_fn)
        if loss_fn.terms is None:
            raise EmokdError(f"{state.desc}: the training step {getattr(step, '__name__', step)!r} never called "
                             "loss_fn(model(batch['x']), batch)")
        for k, v in loss_fn.terms.items():
            sums[k] = sums.get(k, 0.0) + v
        n_batches += 1
    return {k: v / max(n_batches, 1) for k, v in sums.items()}


def _progress(it, enabled: bool, desc: str):
    if not enabled:
        return it
    from tqdm.auto import tqdm

    return tqdm(it, desc=desc, leave=False)


def _write_lines(path, records) -> None:
    write_text(path, "".join(json.dumps(r) + "\n" for r in records))


def _append_line(path, record) -> None:
    with open(path, "a") as f:
        f.write(json.dumps(record) + "\n")
