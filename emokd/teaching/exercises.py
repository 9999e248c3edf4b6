"""Checks for the book's coding exercises: a student's function against emokd's own.

Each exercise asks for one function; ``check_<name>(fn)`` calls it on inputs with known
answers, compares it with emokd's implementation and returns a :class:`Verdict` that says,
in words, what is wrong -- recognising the typical mistakes (PCC for CCC, a mask that is
ignored, an unweighted KD term, a subject in two partitions, absolute for relative power):

=========================  ======================================  ===================
check                      the student writes                      compared with
=========================  ======================================  ===================
:func:`check_ccc`          ``ccc(y_true, y_pred) -> float``        :func:`emokd.core.metrics.ccc`
:func:`check_ccc_loss`     ``ccc_loss(pred, target, mask)``        :func:`emokd.nn.losses.ccc_loss`
:func:`check_kd_objective` ``kd_objective(pred, target, s, h,      :func:`emokd.nn.losses.kd_objective`
                           mask, kd_weight) -> (total, terms)``
:func:`check_loso_folds`   ``loso_folds(subject_of, val_fraction,  :func:`emokd.training.datasets.make_folds`
                           seed) -> list of folds``
:func:`check_band_power`   ``relative_band_power(window, sfreq)``  :func:`emokd.signal.bandpower.band_power`
:func:`check_train_step`   ``train_step(model, batch, optimiser,   one step of SGD on a linear model, by
                           loss_fn) -> float``                     hand in numpy (as
                                                                   :func:`emokd.training.train.train_step`)
=========================  ======================================  ===================

Two modes, so that one notebook serves both editions of the book:

- ``check_x(fn)`` never raises. A starter whose body is still ``...`` (it returns ``None``
  or ``Ellipsis``, or raises ``NotImplementedError``) gets "not implemented yet"; a wrong
  answer gets the diagnosis. The student edition builds with the starters unfilled.
- ``check_x(fn, strict=True)`` raises :class:`ExerciseError` unless the function passes.
  The solution cells of the instructor edition use it, so a wrong solution fails the build.

Every check also asks whether the work is the student's own: a function that only calls, or
returns, emokd's implementation of the thing being exercised (``return metrics.ccc(y_true,
y_pred)``, ``ccc = emokd.core.metrics.ccc``, the same under another name or through any
wrapper, or a verbatim copy of emokd's code) is "flagged", not passed, and names the function it
ran. The check does not read the student's source: while it calls the student's function it
watches (``sys.setprofile``) which functions run, and flags any whose code is, or is a copy of,
one of the implementations the exercise asks the student to write (``OWN_IMPLEMENTATIONS``).
What the exercise allows stays allowed (the KD objective may take its CCC term from
``emokd.nn.losses.ccc_loss``). The autograder (``book/_tools/grading.py``, nbgrader) gives a
flagged exercise no points.
"""

from __future__ import annotations

from dataclasses import dataclass

import dis
import importlib
import inspect
import sys
import threading
import types

import numpy as np
from ..core.constants import BANDS
from ..core.metrics import ccc
from ..signal.bandpower import band_power

__all__ = ["OWN_IMPLEMENTATIONS", "ExerciseError", "Verdict", "check_band_power", "check_ccc", "check_ccc_loss",
           "check_kd_objective", "check_loso_folds", "check_train_step"]

#: what each exercise asks the student to write, as emokd implements it (a function, or a module whose every
#: function counts): a submission during whose check one of these runs is flagged. Keyed by the exercise's
#: name in its Verdict; ``(names, what stays allowed)``.
OWN_IMPLEMENTATIONS: dict[str, tuple[tuple[str, ...], str]] = {
    "CCC": (("emokd.core.metrics.ccc", "emokd.nn.losses.batch_ccc"), "numpy"),
    "masked 1 - CCC loss": (("emokd.nn.losses.batch_ccc", "emokd.nn.losses.ccc_loss"), "torch operations"),
    "KD objective": (("emokd.nn.losses.kd_objective", "emokd.nn.losses.feature_distance"),
                     "emokd.nn.losses.ccc_loss for the first term, as the exercise says"),
    "LOSO split": (("emokd.training.datasets.make_folds", "emokd.training.datasets._split_train_val"),
                   "emokd.training.datasets.Fold to hold a fold"),
    "relative band power": (("emokd.signal.bandpower",), "scipy.signal.welch and scipy.integrate.simpson"),
    "training step": (("emokd.training.train.train_step",),
                      "torch: model.train(), optimiser.zero_grad(), loss.backward(), optimiser.step()"),
}


class ExerciseError(AssertionError):
    """A checked function is wrong or unfinished (raised only with ``strict=True``)."""


@dataclass(frozen=True)
class Verdict:
    """The outcome of one check: ``status`` is "passed", "failed", "not implemented" or "flagged" (it
    ran emokd's own implementation of the exercise: see the module's docstring)."""

    exercise: str
    status: str
    message: str

    @property
    def passed(self) -> bool:
        return self.status == "passed"

    def __bool__(self) -> bool:
        return self.passed

    def __repr__(self) -> str:  # what a notebook shows when the check is a cell's last line
        mark = {"passed": "✔", "failed": "✘", "not implemented": "…", "flagged": "⚑"}[self.status]
        return f"{mark} {self.exercise}: {self.message}"

    __str__ = __repr__


class _NotYet(Exception):
    pass


class _Wrong(Exception):
    pass


def _call(fn, *args, what: str = ""):
    """Call the student's function; unfinished -> _NotYet, an exception or exit() -> _Wrong (no traceback;
    Ctrl-C still stops)."""
    try:
        out = fn(*args)
    except NotImplementedError:
        raise _NotYet() from None
    except Exception as err:  # the student's bug: report it in words, not as a traceback
        raise _Wrong(f"your function raised {type(err).__name__}: {err}" + (f" ({what})" if what else "")) from None
    except SystemExit as stop:  # exit() or sys.exit() in a notebook cell would end the kernel's check
        raise _Wrong(f"your function called exit() (SystemExit: {stop.code!r}); a function should return its "
                     "answer, not end the program" + (f" ({what})" if what else "")) from None
    if out is None or out is Ellipsis:
        raise _NotYet()
    return out


# ------------------------------------------------------------- own work

def _resolve(dotted: str) -> list:
    """The functions a dotted name stands for: one function, or every function a module defines."""
    module, _, attr = dotted.rpartition(".")
    try:
        obj = importlib.import_module(dotted)
    except ImportError:
        obj = getattr(importlib.import_module(module), attr)
    if isinstance(obj, types.ModuleType):
        return [f for f in vars(obj).values() if inspect.isfunction(f) and f.__module__ == obj.__name__]
    return [inspect.unwrap(obj)]


def _signature(code: types.CodeType):
    """A code object without its place, docstring and comments: equal for a verbatim copy of a function
    (whatever its file, line numbers or docstring), different as soon as one name or operation differs.
    Its instructions by name and argument, jump offsets left out and the compiler's two ways of reading an
    attribute made one (the same source can compile to either)."""
    ops = []
    for ins in dis.get_instructions(code):
        if ins.opname in ("CACHE", "NOP", "RESUME", "PRECALL", "EXTENDED_ARG"):
            continue
        name = {"LOAD_METHOD": "LOAD_ATTR", "CALL_METHOD": "CALL"}.get(ins.opname, ins.opname)
        arg = None if "JUMP" in name or ins.opcode in dis.hasjrel or ins.opcode in dis.hasjabs else ins.argval
        if isinstance(arg, types.CodeType):
            arg = _signature(arg)
        elif isinstance(arg, str) and ins.opname == "LOAD_CONST" and ins.offset == 0:
            arg = None
        ops.append((name, repr(arg) if not isinstance(arg, tuple) else arg))
    return tuple(ops), code.co_varnames, code.co_argcount


class _Watched:
    """The student's function, called with a profiler that notes every function of ``own`` that runs
    (or a verbatim copy of one); ``hits`` names them. Only the student's calls are watched: the check's
    own use of emokd's functions, outside them, is not."""

    def __init__(self, fn, exercise: str):
        self.fn, self.hits, self.tampered = fn, [], False
        names, self.allowed = OWN_IMPLEMENTATIONS.get(exercise, ((), ""))
        self.codes: dict = {}
        for dotted in names:
            for f in _resolve(dotted):
                self.codes[f.__code__] = f"{f.__module__}.{f.__qualname__}"
        self.copies = {_signature(c): name for c, name in self.codes.items()}
        self.seen: dict = {}
        self.hook = self._hook  # one bound method, to know it again in sys.getprofile()

    def _hook(self, frame, event, arg):
        if event != "call":
            return
        code = frame.f_code
        name = self.seen.get(code, False)
        if name is False:
            name = self.codes.get(code) or self.copies.get(_signature(code))
            if name and code not in self.codes:
                name += " (a copy of its code)"
            self.seen[code] = name
        if name and name not in self.hits:
            self.hits.append(name)

    def __call__(self, *args):
        before, before_threads = sys.getprofile(), threading.getprofile()
        sys.setprofile(self.hook)
        threading.setprofile(self.hook)
        try:
            out = self.fn(*args)
            if isinstance(out, types.GeneratorType):  # a generator's body runs when it is read: read it here
                out = list(out)
            return out
        finally:
            if sys.getprofile() is not self.hook:
                self.tampered = True
            sys.setprofile(before)
            threading.setprofile(before_threads)


def _flag(exercise: str, name: str, watched: _Watched) -> Verdict | None:
    if watched.hits:
        return Verdict(exercise, "flagged",
                       f"not your own work: `{name}` runs emokd's own implementation "
                       f"({', '.join(watched.hits)}), the function the check compares with. The exercise is "
                       f"to write it yourself (allowed: {watched.allowed}); a graded exercise gets no points "
                       "for it.")
    if watched.tampered:
        return Verdict(exercise, "flagged",
                       f"`{name}` switched off the profiler with which the check sees which functions it runs "
                       "(sys.setprofile); a graded exercise gets no points for it.")
    return None


def _verdict(exercise: str, name: str, body, fn, strict: bool, *, reference: str = "emokd") -> Verdict:
    watched = _Watched(fn, exercise)
    try:
        body(watched)
        v = Verdict(exercise, "passed", f"correct: it agrees with {reference} on every test case.")
    except _NotYet:
        v = Verdict(exercise, "not implemented",
                    f"not implemented yet: replace the `...` in `{name}` with your code, then run the cell again.")
    except _Wrong as err:
        v = Verdict(exercise, "failed", str(err))
    flagged = _flag(exercise, name, watched)  # a Verdict is falsy unless passed: no `or` here
    v = v if flagged is None else flagged
    if strict and not v.passed:
        raise ExerciseError(repr(v))
    return v


def _number(x, what: str) -> float:
    try:
        arr = np.asarray(x.detach() if hasattr(x, "detach") else x, dtype=np.float64)
    except (TypeError, ValueError):
        raise _Wrong(f"{what} should be a number, got {type(x).__name__}") from None
    if arr.size != 1:
        raise _Wrong(f"{what} should be one number, got an array of shape {arr.shape}")
    return float(arr.ravel()[0])


def _close(a: float, b: float, tol: float) -> bool:
    return bool(np.isfinite(a) and np.isfinite(b) and abs(a - b) <= tol * max(1.0, abs(b)))


# --------------------------------------------------------------------------- CCC

def _ccc_cases():
    y = np.array([0.0, 1.0, 2.0, 3.0])
    rng = np.random.default_rng(7)
    t = np.cumsum(rng.standard_normal(60)) * 0.1
    return [("y = (0, 1, 2, 3), prediction y + 1", y, y + 1.0),
            ("y = (0, 1, 2, 3), prediction 2 y", y, 2.0 * y),
            ("a random trace and a noisy, shrunk, shifted copy", t, 0.4 * t + 0.3 + 0.05 * rng.standard_normal(60))]


def _moments(t, p, ddof=0):
    c = np.cov(t, p, ddof=ddof)
    return c[0, 1], c[0, 0], c[1, 1], t.mean() - p.mean()


_CCC_MISTAKES = (
    (lambda t, p: np.corrcoef(t, p)[0, 1],
     "your CCC equals the Pearson correlation (PCC): it ignores the offset between the means and the "
     "difference in scale. A prediction y + 1 is perfectly correlated with y (PCC = 1) but not concordant: "
     "CCC = 2 cov / (var(y) + var(ŷ) + (mean(y) - mean(ŷ))²)."),
    (lambda t, p: (lambda c, vt, vp, d: 2 * c / (vt + vp))(*_moments(t, p)),
     "you left out the (mean(y) - mean(ŷ))² term of the denominator: a prediction shifted by a constant "
     "scores as if it had no offset."),
    (lambda t, p: (lambda c, vt, vp, d: c / (vt + vp + d * d))(*_moments(t, p)),
     "the factor 2 in the numerator is missing: a perfect prediction should score 1, yours scores 0.5."),
    (lambda t, p: (lambda c, vt, vp, d: 2 * c / (vt + vp + d * d))(*_moments(t, p, ddof=1)),
     "you used sample moments (divided by n - 1); Lin's CCC, and emokd, use population moments "
     "(divide by n: np.var and np.mean of the products, not np.cov's default)."),
)


def _ccc_body(fn):
    got = [_number(_call(fn, t, p, what=name), "the CCC") for name, t, p in _ccc_cases()]
    want = [ccc(t, p) for _, t, p in _ccc_cases()]
    if all(_close(g, w, 1e-6) for g, w in zip(got, want)):
        flat = _number(_call(fn, _ccc_cases()[2][1], np.full(60, 0.2), what="a constant prediction"),
                       "the CCC of a constant prediction")
        if not _close(flat, 0.0, 1e-9):
            raise _Wrong(f"for a constant prediction your function gives {flat}; CCC is 0 there "
                         "(a constant has no covariance with the truth), where PCC is undefined.")
        return
    for mistake, message in _CCC_MISTAKES:
        if all(_close(g, mistake(t, p), 1e-6) for g, (_, t, p) in zip(got, _ccc_cases())):
            raise _Wrong(message)
    for g, w, (name, _, _) in zip(got, want, _ccc_cases()):
        if not _close(g, w, 1e-6):
            raise _Wrong(f"for {name} your function gives {g:.4f}; the CCC is {w:.4f}.")


def check_ccc(fn, *, strict: bool = False) -> Verdict:
    """Check ``fn(y_true, y_pred) -> float`` (numpy arrays of shape (n_steps,)) against
    :func:`emokd.core.metrics.ccc`: two known answers (0.714 and 0.588), a random pair, and a
    constant prediction (CCC 0)."""
    return _verdict("CCC", "ccc", _ccc_body, fn, strict)


# ----------------------------------------------------------------- 1 - CCC loss

def _loss_case(seed: int = 3):
    import torch

    g = torch.Generator().manual_seed(seed)
    lengths = (40, 28, 12)
    target = torch.cumsum(torch.randn(3, 40, generator=g), dim=1) * 0.1  # (batch, n_steps)
    pred = 0.6 * target + 0.2 + 0.1 * torch.randn(3, 40, generator=g)
    mask = torch.zeros(3, 40)
    for i, n in enumerate(lengths):
        mask[i, :n] = 1.0
    junk = 5.0 * torch.randn(3, 40, generator=g)  # what sits in the padded steps
    pred = torch.where(mask > 0, pred, junk)
    target = torch.where(mask > 0, target, -junk)
    return pred, target, mask


def _joined_ccc_loss(pred, target, mask):
    m = mask.numpy() > 0
    return 1.0 - ccc(target.numpy()[m], pred.detach().numpy()[m])


def _ccc_loss_body(fn):
    import torch

    from ..nn.losses import batch_ccc, ccc_loss

    pred, target, mask = _loss_case()
    p = pred.clone().requires_grad_(True)
    out = _call(fn, p, target, mask, what="pred, target and mask of shape (3, 40)")
    if not isinstance(out, torch.Tensor):
        raise _Wrong(f"your loss is a {type(out).__name__}, not a torch tensor: training needs a tensor "
                     "it can differentiate (do not convert to numpy or call .item()).")
    value = _number(out, "the loss")
    if out.grad_fn is None:
        raise _Wrong("your loss has no gradient with respect to pred: compute it with torch operations "
                     "only (no numpy, no .item(), no torch.no_grad()).")
    junk = torch.where(mask > 0, pred, pred + 3.0), torch.where(mask > 0, target, target - 2.0)
    other = _number(_call(fn, junk[0], junk[1], mask, what="other values in the padded steps"), "the loss")
    if not _close(other, value, 1e-5):
        raise _Wrong("the mask is ignored: padded steps changed your loss (only steps with mask 1 are data; "
                     "multiply by the mask in every mean, variance and covariance).")
    want = float(ccc_loss(pred, target, mask))
    if _close(value, want, 1e-4):
        return
    mistakes = (
        (float(batch_ccc(pred, target, mask).mean()),
         "your function returns the CCC, not the loss 1 - CCC: a perfect prediction must give 0."),
        (_joined_ccc_loss(pred, target, mask),
         "you computed one CCC over all sequences joined; the loss is 1 - CCC of each sequence, "
         "averaged over the batch."),
        (float((1.0 - batch_ccc(pred, target, mask)).sum()),
         "you summed 1 - CCC over the batch; average it (the loss should not grow with the batch size)."),
    )
    for alt, message in mistakes:
        if _close(value, alt, 1e-4):
            raise _Wrong(message)
    raise _Wrong(f"your loss is {value:.5f}, emokd's is {want:.5f}. Masked means, variances and covariance "
                 "must be divided by the number of valid steps of each sequence (mask.sum(1)), not by n_steps.")


def check_ccc_loss(fn, *, strict: bool = False) -> Verdict:
    """Check ``fn(pred, target, mask) -> scalar tensor`` (tensors of shape (batch, n_steps), mask 1
    for real steps) against :func:`emokd.nn.losses.ccc_loss`: its value, its gradient, and that
    changing the padded steps does not change it."""
    return _verdict("masked 1 - CCC loss", "ccc_loss", _ccc_loss_body, fn, strict)


# ---------------------------------------------------------------- KD objective

def _kd_case():
    import torch

    pred, target, mask = _loss_case(5)
    g = torch.Generator().manual_seed(11)
    teacher = torch.randn(3, 40, 8, generator=g)
    student = teacher + 0.5 * torch.randn(3, 40, 8, generator=g)
    return pred[..., None], target, student, teacher, mask  # pred (batch, n_steps, 1) as models return it


def _kd_terms(fn, pred, target, student, teacher, mask, w, what):
    import torch

    out = _call(fn, pred, target, student, teacher, mask, w, what=what)
    if not (isinstance(out, tuple) and len(out) == 2 and isinstance(out[1], dict)):
        raise _Wrong("return two things: the total (a tensor) and a dict of the named terms, "
                     "`return total, {\"ccc_loss\": ..., \"kd_loss\": ..., \"total\": ...}`.")
    total, terms = out
    missing = [k for k in ("ccc_loss", "kd_loss", "total") if k not in terms]
    if missing:
        raise _Wrong(f"the dict of terms lacks {', '.join(map(repr, missing))}: each term is named so that it "
                     "can be logged.")
    if not isinstance(total, torch.Tensor):
        raise _Wrong(f"the total is a {type(total).__name__}; it must be a torch tensor, the thing training "
                     "differentiates.")
    return _number(total, "the total"), {k: _number(terms[k], f"terms[{k!r}]") for k in ("ccc_loss", "kd_loss", "total")}, total


def _kd_body(fn):
    import torch

    from ..nn.losses import ccc_loss, feature_distance

    pred, target, student, teacher, mask = _kd_case()
    w = 2.5
    s = student.clone().requires_grad_(True)
    total, terms, total_t = _kd_terms(fn, pred, target, s, teacher, mask, w, "kd_weight 2.5")
    if total_t.grad_fn is None:
        raise _Wrong("the total has no gradient with respect to the student's features: use torch operations "
                     "and do not detach the student's side.")
    task = float(ccc_loss(pred, target, mask))
    kd = float(feature_distance(teacher, student, mask, "l1"))
    if not _close(terms["total"], total, 1e-5):
        raise _Wrong(f"terms['total'] ({terms['total']:.5f}) is not the total you return ({total:.5f}).")
    if not _close(terms["ccc_loss"], task, 1e-4):
        raise _Wrong(f"terms['ccc_loss'] is {terms['ccc_loss']:.5f}; the masked 1 - CCC of these windows is "
                     f"{task:.5f} (use emokd.nn.losses.ccc_loss, or your own from chapter 4).")
    moved = torch.where(mask[..., None] > 0, student, student + 4.0)
    _, terms2, _ = _kd_terms(fn, pred, target, moved, teacher, mask, w, "other student features in the padded steps")
    if not _close(terms2["kd_loss"], terms["kd_loss"], 1e-5):
        raise _Wrong("the mask is ignored in the KD term: the student's features at padded steps changed it "
                     "(average |h - s| over the valid steps only).")
    if _close(terms["kd_loss"], w * kd, 1e-4) and not _close(w * kd, kd, 1e-4):
        raise _Wrong("terms['kd_loss'] is already multiplied by kd_weight; log the distance itself (the "
                     "weight belongs in the total), so that runs with different weights can be compared.")
    n_feat = teacher.shape[-1]
    for alt, message in (
        (kd * n_feat, "your feature distance is n_features times too large: average |h - s| over the features "
                      "as well as the steps (as nn.L1Loss does)."),
        (float(feature_distance(teacher, student, mask, "mse")),
         "your KD term is the mean squared difference; the paper's is the L1 distance, the mean of |h - s|."),
    ):
        if _close(terms["kd_loss"], alt, 1e-4):
            raise _Wrong(message)
    if not _close(terms["kd_loss"], kd, 1e-4):
        raise _Wrong(f"terms['kd_loss'] is {terms['kd_loss']:.5f}; the L1 distance between these teacher and "
                     f"student features over the valid steps is {kd:.5f}.")
    if _close(total, task + kd, 1e-4):
        raise _Wrong("the KD term is not weighted by kd_weight: the total must be ccc_loss + kd_weight * kd_loss.")
    if _close(total, w * task + kd, 1e-4):
        raise _Wrong("kd_weight multiplies the CCC term; it should multiply the KD term: "
                     "ccc_loss + kd_weight * kd_loss.")
    if not _close(total, task + w * kd, 1e-4):
        raise _Wrong(f"with kd_weight 2.5 your total is {total:.5f}; ccc_loss + kd_weight * kd_loss is "
                     f"{task + w * kd:.5f}.")
    total0, _, _ = _kd_terms(fn, pred, target, student, teacher, mask, 0.0, "kd_weight 0")
    if not _close(total0, task, 1e-4):
        raise _Wrong(f"with kd_weight 0 the total should be the plain CCC loss ({task:.5f}), yours is {total0:.5f}.")


def check_kd_objective(fn, *, strict: bool = False) -> Verdict:
    """Check ``fn(pred, target, student_features, teacher_features, mask, kd_weight) -> (total, terms)``
    against :func:`emokd.nn.losses.kd_objective` with the L1 distance: pred (batch, n_steps, 1), target and
    mask (batch, n_steps), features (batch, n_steps, n_features); ``terms`` names ``ccc_loss``,
    ``kd_loss`` (unweighted) and ``total``."""
    return _verdict("KD objective", "kd_objective", _kd_body, fn, strict)


# ----------------------------------------------------------------- LOSO folds

def _split_case() -> dict[str, int]:
    counts = {2: 3, 5: 4, 7: 3, 11: 5}  # ids not 1..n, unequal trial counts
    keys = [(f"P{s:02d}_T{t:02d}", s) for s, n in counts.items() for t in range(1, 2 * n + 1, 2)]
    order = np.random.default_rng(1).permutation(len(keys))  # a dict in no particular order
    return {keys[i][0]: keys[i][1] for i in order}


def _parts(fold, k: int):
    if all(hasattr(fold, a) for a in ("train", "validation", "test")):
        parts = fold.train, fold.validation, fold.test
    elif isinstance(fold, (tuple, list)) and len(fold) == 3:
        parts = fold
    else:
        raise _Wrong(f"fold {k} is a {type(fold).__name__}; return each fold as emokd.training.datasets.Fold(k, train, "
                     "validation, test) or as a (train, validation, test) tuple of trial keys.")
    try:
        return [list(p) for p in parts]
    except TypeError:
        raise _Wrong(f"the partitions of fold {k} are not lists of trial keys") from None


def _loso_body(fn):
    subject_of = _split_case()
    folds = list(_call(fn, dict(subject_of), 0.2, 0, what="4 subjects, ids 2, 5, 7 and 11"))
    subjects = sorted(set(subject_of.values()))
    if len(folds) != len(subjects):
        raise _Wrong(f"you made {len(folds)} folds; LOSO makes one per subject ({len(subjects)} here: "
                     f"subjects {', '.join(map(str, subjects))}).")
    tested = []
    for k, fold in enumerate(folds):
        train, val, test = _parts(fold, k)
        named = {"train": train, "validation": val, "test": test}
        unknown = sorted({key for p in named.values() for key in p} - set(subject_of))
        if unknown:
            raise _Wrong(f"fold {k} holds {unknown[0]!r}, which is not a trial key of subject_of.")
        for name, p in named.items():
            if len(set(p)) != len(p):
                raise _Wrong(f"fold {k}: a trial appears twice in {name}.")
        for a, b in (("train", "test"), ("validation", "test"), ("train", "validation")):
            both = sorted(set(named[a]) & set(named[b]))
            if both:
                raise _Wrong(f"trial {both[0]} is in both {a} and {b} of fold {k}: each trial belongs to "
                             "exactly one partition.")
        left = sorted(set(subject_of) - set(train) - set(val) - set(test))
        if left:
            raise _Wrong(f"trial {left[0]} is in no partition of fold {k}: every trial is used, for training, "
                         "validation or test.")
        if not val:
            raise _Wrong(f"fold {k} has no validation trials: validation chooses the best epoch and early "
                         "stopping, so each fold needs some.")
        subj = {name: {subject_of[key] for key in p} for name, p in named.items()}
        for other in ("train", "validation"):
            both = sorted(subj[other] & subj["test"])
            if both:
                raise _Wrong(f"subject {both[0]} is in both {other} and test of fold {k}: the test subject must be "
                             "unseen, or the score is no longer that of a new person.")
        if len(subj["test"]) != 1:
            raise _Wrong(f"fold {k} tests subjects {sorted(subj['test'])}: LOSO tests exactly one subject per fold.")
        tested.append(next(iter(subj["test"])))
        n_rest = len(train) + len(val)
        if abs(len(val) - 0.2 * n_rest) > 1:
            raise _Wrong(f"fold {k}: validation holds {len(val)} of the {n_rest} remaining trials; with "
                         f"val_fraction 0.2 it should hold about {0.2 * n_rest:.0f}.")
    if sorted(tested) != subjects:
        twice = sorted({s for s in tested if tested.count(s) > 1})
        raise _Wrong(f"subject {twice[0]} is tested in more than one fold, and subject "
                     f"{sorted(set(subjects) - set(tested))[0]} in none: each subject is the test subject once.")
    again = list(_call(fn, dict(subject_of), 0.2, 0, what="the same seed again"))
    if [_parts(f, k) for k, f in enumerate(again)] != [_parts(f, k) for k, f in enumerate(folds)]:
        raise _Wrong("two calls with the same seed gave different folds: draw the validation trials with "
                     "np.random.default_rng(seed), not with the global random state.")


def check_loso_folds(fn, *, strict: bool = False) -> Verdict:
    """Check ``fn(subject_of, val_fraction, seed) -> list of folds`` (``subject_of``: trial key ->
    subject id; a fold is an :class:`emokd.training.datasets.Fold` or a (train, validation, test) tuple of
    keys) for the leaks and mistakes :func:`emokd.training.datasets.make_folds` avoids: one fold per subject,
    each subject tested once, no subject in two partitions, every trial in exactly one partition,
    a validation share of ``val_fraction``, the same folds for the same seed."""
    return _verdict("LOSO split", "loso_folds", _loso_body, fn, strict)


# ------------------------------------------------------------ relative band power

def _bp_cases():
    out = []
    for sfreq in (256.0, 128.0):
        n = int(2 * sfreq)
        t = np.arange(n) / sfreq
        rng = np.random.default_rng(int(sfreq))
        x = np.stack([np.sin(2 * np.pi * 10 * t) + 0.1 * rng.standard_normal(n),
                      3.0 * rng.standard_normal(n),
                      0.5 * np.sin(2 * np.pi * 25 * t) + np.cumsum(rng.standard_normal(n)) * 0.05])  # (3, n)
        out.append((sfreq, x * 1e-5))  # volts, as EEG
    return out


def _bp_variant(x, sfreq, *, relative="total", integrate="simpson", edges="closed", nperseg=None):
    from scipy.integrate import simpson, trapezoid
    from scipy.signal import welch

    f, psd = welch(x, fs=sfreq, nperseg=nperseg or int(sfreq))  # (n_chans, n_freqs)
    integ = {"simpson": lambda y, xx: simpson(y, x=xx, axis=-1),
             "trapezoid": lambda y, xx: trapezoid(y, x=xx, axis=-1),
             "sum": lambda y, xx: y.sum(axis=-1) * (f[1] - f[0])}[integrate]
    sel = [(f >= lo) & (f <= hi) if edges == "closed" else (f >= lo) & (f < hi) for lo, hi in BANDS]
    p = np.array([integ(psd[:, s], f[s]) for s in sel])  # (n_bands, n_chans)
    if relative == "total":
        return p / integ(psd, f)
    if relative == "bands":
        return p / p.sum(axis=0)
    return p


_BP_MISTAKES = (
    ({"relative": "none"}, "these are absolute powers (they scale with the square of the signal): divide each "
                           "band's power by the window's total power, the integral of the spectrum over all bins."),
    ({"relative": "bands"}, "you divided by the sum of the six bands, so your shares sum to 1; the recipe divides "
                            "by the integral over all frequencies, 0 Hz to Nyquist, so they do not."),
    ({"edges": "open"}, "a bin on a band edge (4, 8, 12, 18, 30 Hz) belongs to both bands: select the bins with "
                        "lo <= f <= hi, not f < hi."),
    ({"integrate": "trapezoid"}, "close, but integrated by the trapezoidal rule: the recipe uses Simpson's rule "
                                 "(scipy.integrate.simpson) over the band's bins."),
    ({"integrate": "sum"}, "close, but a plain sum of bins: the recipe integrates with Simpson's rule "
                           "(scipy.integrate.simpson) over the band's bins."),
)


def _bp_body(fn):
    for sfreq, x in _bp_cases():
        what = f"a 2 s window of 3 channels at {sfreq:g} Hz"
        out = _call(fn, x.copy(), sfreq, what=what)
        try:
            got = np.asarray(out, dtype=np.float64)
        except (TypeError, ValueError):
            raise _Wrong(f"your function returned a {type(out).__name__}, not an array of band powers") from None
        want = band_power(x, sfreq, window_s=x.shape[1] / sfreq)[0]  # (n_bands, n_chans)
        if got.shape == want.T.shape and got.shape != want.shape:
            raise _Wrong(f"your array has shape {got.shape} (channels, bands); return (n_bands, n_channels) = "
                         f"{want.shape}.")
        if got.shape != want.shape:
            raise _Wrong(f"for {what} your array has shape {got.shape}; expected (n_bands, n_channels) = "
                         f"{want.shape}, one row per band of emokd.core.constants.BANDS ({len(BANDS)}).")
        if np.allclose(got, want, rtol=1e-8, atol=1e-12):
            continue
        for opts, message in _BP_MISTAKES:
            if np.allclose(got, _bp_variant(x, sfreq, **opts), rtol=1e-6, atol=0):
                raise _Wrong(message)
        if np.allclose(got, _bp_variant(x, sfreq, nperseg=x.shape[1]), rtol=1e-6):
            raise _Wrong("you took one periodogram of the whole window; Welch's method averages 1 s Hann "
                         "segments overlapping by half (scipy.signal.welch with nperseg = sfreq).")
        worst = np.unravel_index(np.argmax(np.abs(got - want)), want.shape)
        raise _Wrong(f"for {what}, band {worst[0]} of channel {worst[1]} is {got[worst]:.4g}; expected "
                     f"{want[worst]:.4g}. Welch (1 s Hann segments, half overlap), Simpson's rule over the bins "
                     "with lo <= f <= hi, divided by the integral over all bins.")


def check_band_power(fn, *, strict: bool = False) -> Verdict:
    """Check ``fn(window, sfreq) -> (n_bands, n_channels)`` for one window (shape (n_channels,
    n_times)) against :func:`emokd.signal.bandpower.band_power` with the paper's bands, at 256 Hz and
    at 128 Hz (nothing may assume 256)."""
    return _verdict("relative band power", "relative_band_power", _bp_body, fn, strict)


# ------------------------------------------------------------------- a training step

_STEP_LR = 0.1  # the SGD learning rate of the check's optimiser


def _step_data():
    """A linear model's start (w (3,), b) and two batches (x (6, 3), y (6,)), float64."""
    rng = np.random.default_rng(21)
    w_true = np.array([0.5, -1.0, 2.0])
    batches = []
    for _ in range(2):
        x = rng.standard_normal((6, 3))
        batches.append((x, x @ w_true + 0.3 + 0.1 * rng.standard_normal(6)))
    return np.array([0.2, 0.1, -0.4]), 0.05, batches


def _sgd_by_hand(w, b, x, y, lr=_STEP_LR, extra=(0.0, 0.0)):
    """One SGD step on L = mean((x w + b - y)^2), in numpy: (loss before, w after, b after, grads).
    ``extra``: gradients already held before the step (added, as a step without zero_grad adds them)."""
    r = x @ w + b - y  # (n,)
    gw, gb = 2.0 * x.T @ r / len(y) + extra[0], 2.0 * r.mean() + extra[1]
    return float(np.mean(r ** 2)), w - lr * gw, b - lr * gb, (gw, gb)


def _step_setup(w, b, log: list, *, train: bool = True):
    """A linear model y = x w + b (float64 parameters) and an SGD optimiser, both noting what is called
    on them in ``log``: forward (with the mode it ran in), zero_grad, backward, step, the loss."""
    import torch

    class Linear(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.tensor(w, dtype=torch.float64))  # (3,)
            self.b = torch.nn.Parameter(torch.tensor(b, dtype=torch.float64))  # ()

        def forward(self, x):  # (n, 3) -> (n,)
            log.append(("forward", self.training))
            return x @ self.w + self.b

        def zero_grad(self, set_to_none: bool = True):
            log.append(("zero_grad", None))
            super().zero_grad(set_to_none)

    class SGD(torch.optim.SGD):
        def zero_grad(self, set_to_none: bool = True):
            log.append(("zero_grad", None))
            super().zero_grad(set_to_none)

    def noted(grad):
        if not log or log[-1][0] != "backward":
            log.append(("backward", None))
        return grad

    model = Linear()
    for p in model.parameters():
        p.register_hook(noted)
    model.train(train)
    opt = SGD(model.parameters(), lr=_STEP_LR)
    opt.register_step_pre_hook(lambda *args: log.append(("step", None)))

    def loss_fn(output, batch):
        log.append(("loss", None))
        return ((output - batch["y"]) ** 2).mean()

    return model, opt, loss_fn


def _weights(model):
    return model.w.detach().numpy().copy(), float(model.b.detach())


def _same(a, b) -> bool:
    return bool(np.allclose(a[0], b[0], rtol=1e-9, atol=1e-12) and np.isclose(a[1], b[1], rtol=1e-9, atol=1e-12))


def _step_call(fn, model, batch, opt, loss_fn, log, what):
    import torch

    try:
        out = _call(fn, model, batch, opt, loss_fn, what=what)
    except _NotYet:
        if log:  # it did something, and returned nothing
            raise _Wrong("your step returns nothing: return the batch's loss as a float, `return loss.item()`.") from None
        raise
    if isinstance(out, torch.Tensor):
        raise _Wrong("your step returns a tensor; return the loss as a float, `loss.item()`: a caller that keeps "
                     "the tensor (to average the epoch's losses) keeps the whole graph of every batch alive.")
    return _number(out, "the loss your step returns")


def _order_mistake(log) -> str | None:
    """What the notes of one call say went wrong in the order of zero_grad, backward and step."""
    names = [n for n, _ in log]
    if "loss" not in names:
        return ("your step never calls loss_fn: compute the loss as `loss_fn(model(batch[\"x\"]), batch)`, with the "
                "loss function it is given (the check's is not the one you may assume).")
    if "backward" not in names:
        return "your step never calls loss.backward(): without it no gradient is computed and the weights cannot move."
    if "step" not in names:
        return ("your step never calls optimiser.step() of the optimiser it is given: the gradients are computed, "
                "but nothing moves the weights along them (the caller's optimiser holds the learning rate, its "
                "schedule and Adam's moments: do not make another).")
    back, step = names.index("backward"), names.index("step")
    if step < back:
        return ("optimiser.step() runs before loss.backward(): it moves the weights with the gradients of the "
                "previous call (here none) instead of this batch's.")
    if "zero_grad" in names[back:step]:
        return "zero_grad runs between loss.backward() and optimiser.step(): it throws away the gradients the step needs."
    if names.count("step") > 1:
        return "your step calls optimiser.step() more than once: one batch, one step."
    return None


def _step_body(fn):
    import torch

    w0, b0, ((x1, y1), (x2, y2)) = _step_data()
    batch1 = {"x": torch.from_numpy(x1), "y": torch.from_numpy(y1)}
    batch2 = {"x": torch.from_numpy(x2), "y": torch.from_numpy(y2)}
    loss0, w1, b1, grads1 = _sgd_by_hand(w0, b0, x1, y1)

    # 1. one step from clean gradients, the model handed over in eval mode (as after a validation pass)
    log: list = []
    model, opt, loss_fn = _step_setup(w0, b0, log, train=False)
    got = _step_call(fn, model, batch1, opt, loss_fn, log, "one step of SGD (lr 0.1) on a linear model")
    mistake = _order_mistake(log)
    if mistake:
        raise _Wrong(mistake)
    modes = [mode for name, mode in log if name == "forward"]
    if not modes[0]:
        raise _Wrong("the forward pass ran with the model in eval mode: call model.train() at the start of the step "
                     "(the model may come from a validation pass in eval mode; dropout must be on in training).")
    after = _weights(model)
    if not _same(after, (w1, b1)):
        if _same(after, (w0, b0)):
            raise _Wrong("the weights did not change: the step must move them by -lr times this batch's gradient.")
        raise _Wrong(f"after one step of SGD (lr {_STEP_LR}) the weights should be w - lr * grad = "
                     f"{np.round(w1, 5).tolist()}, b = {b1:.5f} (the gradient of the mean squared error, by hand); "
                     f"yours are {np.round(after[0], 5).tolist()}, b = {after[1]:.5f}.")
    if not model.training:
        raise _Wrong("your step leaves the model in eval mode: leave it in train mode (the next batch's forward pass "
                     "must run with dropout on).")
    loss_after = _sgd_by_hand(w1, b1, x1, y1)[0]
    if not _close(got, loss0, 1e-9):
        if _close(got, loss_after, 1e-9):
            raise _Wrong(f"your step returns the loss after the step ({got:.5f}); return the loss it computed before "
                         f"the step ({loss0:.5f}), the one the gradient came from (no second forward pass).")
        raise _Wrong(f"your step returns {got:.5f}; the batch's loss before the step is {loss0:.5f}.")

    # 2. two calls: the second batch's gradient alone moves the weights the second time
    log = []
    model, opt, loss_fn = _step_setup(w0, b0, log)
    _step_call(fn, model, batch1, opt, loss_fn, log, "the first of two steps")
    got2 = _step_call(fn, model, batch2, opt, loss_fn, log, "the second of two steps")
    loss1, w2, b2, _ = _sgd_by_hand(w1, b1, x2, y2)
    _, w2_acc, b2_acc, _ = _sgd_by_hand(w1, b1, x2, y2, extra=grads1)
    after = _weights(model)
    if not _same(after, (w2, b2)):
        if _same(after, (w2_acc, b2_acc)):
            raise _Wrong("gradients accumulate across calls: loss.backward() adds to the gradients already held, so "
                         "the second step also used the first batch's. Call optimiser.zero_grad() at the start of the "
                         "step, before loss.backward().")
        raise _Wrong(f"after two steps (two batches) the weights should be {np.round(w2, 5).tolist()}, b = {b2:.5f}; "
                     f"yours are {np.round(after[0], 5).tolist()}, b = {after[1]:.5f}.")
    if not _close(got2, loss1, 1e-9):
        raise _Wrong(f"on the second call your step returns {got2:.5f}; that batch's loss before its step is "
                     f"{loss1:.5f}.")

    # 3. gradients already held when the step starts (an earlier backward elsewhere) must not count
    log = []
    model, opt, loss_fn = _step_setup(w0, b0, log)
    for p in model.parameters():
        p.grad = torch.ones_like(p)
    _step_call(fn, model, batch1, opt, loss_fn, log, "a step whose parameters already hold gradients")
    if not _same(_weights(model), (w1, b1)):
        raise _Wrong("the gradients the parameters held before the call were added to this batch's: zero them at "
                     "the start of the step (optimiser.zero_grad() before loss.backward()), not only at its end, so "
                     "that a step depends on its batch and the weights alone.")


def check_train_step(fn, *, strict: bool = False) -> Verdict:
    """Check ``fn(model, batch, optimiser, loss_fn) -> float``, one training step: ``model.train()``,
    ``optimiser.zero_grad()``, ``loss = loss_fn(model(batch["x"]), batch)``, ``loss.backward()``,
    ``optimiser.step()``, the loss before the step returned as a float.

    Known answers, independent of emokd: a linear model with float64 parameters and SGD (lr 0.1) on the
    mean squared error, whose step is computed by hand in numpy (``w - lr * grad``): one step (handed the
    model in eval mode: the forward pass must run in train mode, and the model stay there), two steps on
    two batches (the gradients must not accumulate), a step whose parameters already hold gradients, and
    the returned loss (before the step, not after). :func:`emokd.training.train.train_step` is emokd's.
    """
    return _verdict("training step", "train_step", _step_body, fn, strict,
                    reference="the steps of SGD computed by hand")

