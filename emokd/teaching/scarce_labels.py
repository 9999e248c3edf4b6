"""Distillation with scarce labels, small enough to refit in a web page: the playground of chapter 05c.

A *linear* picture of :mod:`emokd.training.regimes`' first regime, computed the same way in numpy
(here) and in the page's JavaScript (``static/scarce_labels.js``), so that the reader can move the
number of labelled trials and the teacher's weight without a kernel:

- every trial's two inputs, face pixels (:func:`emokd.evaluation.linear.frame_features`) and EEG band
  power, z-scored and reduced by PCA to a few components (fitted on every trial's inputs, never on a
  label; 32 for the face, whose expression is not its largest source of variance, 8 for the EEG), one
  step in ``stride``;
- per LOSO fold and for ``k`` labelled trials per training subject (a fixed order per subject, so a
  larger ``k`` keeps the smaller one's labels): the *teacher*, a ridge regression on the face
  components of the labelled trials; the *student*, the same on the EEG components; the *taught
  student*, a ridge regression on the EEG components that fits the labels of the labelled trials and,
  with weight ``w``, the teacher's predictions where there is no label (output distillation on the
  unlabelled trials): minimise ``sum_L (y - X b)^2 + w sum_U (t - X b)^2 + alpha |b|^2`` (intercept not
  penalised); with every label it is the student;
- their CCC on the test subject's trials, per trial and concatenated, averaged over folds.

:func:`scarce_labels_data` exports the inputs; :func:`linear_distillation` is the model;
:func:`scarce_labels_html` the page fragment (``emokd.teaching.playgrounds_html``'s DOM contract,
``data-playground="scarcelabels"``).
"""

from __future__ import annotations

import html
import math
from importlib import resources

import numpy as np

from ..core import style
from ..core.metrics import ccc
from ..errors import EmokdError
from ..evaluation.linear import frame_features
from ..io.prepare import load_prepared
from ..training.datasets import make_folds
from ..training.folddata import load_trials
from .playgrounds_html import json_safe, playground_fragment, playground_uid, select_control

#: the ridge penalty on the z-scored components (fixed before any score was seen: the same for every
#: model, k and w)
ALPHA = 10.0
#: the teacher's weights offered in the page
WEIGHTS = (0.0, 0.25, 0.5, 1.0, 2.0, 4.0)


def _pca(blocks: list[np.ndarray], n_components: int) -> list[np.ndarray]:
    """Z-score the rows of all blocks together, project on the first principal components, and
    rescale each component to unit SD. Returns the blocks projected, (n_i, n_components)."""
    x = np.concatenate(blocks).astype(np.float64)
    sd = x.std(0)
    x = (x - x.mean(0)) / np.where(sd > 0, sd, 1.0)
    _, s, vt = np.linalg.svd(x, full_matrices=False)
    k = min(n_components, vt.shape[0])
    proj = x @ vt[:k].T
    proj /= np.where(proj.std(0) > 0, proj.std(0), 1.0)
    out, lo = [], 0
    for b in blocks:
        out.append(proj[lo:lo + len(b)])
        lo += len(b)
    return out


def scarce_labels_data(prepared_dir, *, seed: int = 0, eeg_components: int = 8, face_components: int = 32,
                       stride: int = 8, decimals: int = 2) -> dict:
    """The playground's inputs: per trial its subject, labels and PCA components; the LOSO folds and each
    subject's order of labelled trials.

    ``prepared_dir``: prepared data with face frames (read one trial at a time: only each step's middle
    frame is kept). Returns a JSON-ready dict: ``trials`` (key -> ``subject``, ``y``, ``eeg`` (n, k_eeg),
    ``face`` (n, k_face)), ``folds`` (test subject, training keys, test keys), ``order`` (subject -> its
    trials in labelling order), ``k_max`` (the most trials a subject has), ``alpha``, ``weights``.
    """
    trials = load_trials(prepared_dir, frames=False)
    keys = sorted(trials)
    pixels = []
    for k in keys:  # one trial's frames at a time: the whole data set's would not fit a small kernel
        (t,) = load_prepared(prepared_dir, keys=[k])
        if t.get("frames") is None:
            raise EmokdError(f"{prepared_dir}: trial {k} has no face frames; the playground needs them")
        pixels.append(frame_features(t["frames"][::stride]))
        del t
    eeg = _pca([np.asarray(trials[k]["x"])[::stride] for k in keys], eeg_components)
    face = _pca(pixels, face_components)
    subject_of = {k: int(trials[k]["subject"]) for k in keys}
    rng = np.random.default_rng([seed, 7])
    order = {}
    for s in sorted(set(subject_of.values())):
        mine = [k for k in keys if subject_of[k] == s]
        order[str(s)] = [mine[i] for i in rng.permutation(len(mine))]
    folds = [{"test_subject": subject_of[f.test[0]], "train": sorted(f.train + f.validation), "test": list(f.test)}
             for f in make_folds(subject_of, "loso", seed=seed)]
    r = lambda a: np.round(np.asarray(a, np.float64), decimals).tolist()  # noqa: E731
    return {"trials": {k: {"subject": subject_of[k], "y": r(np.asarray(trials[k]["valence"])[::stride]),
                           "eeg": r(e), "face": r(f)} for k, e, f in zip(keys, eeg, face)},
            "folds": folds, "order": order, "k_max": max(len(v) for v in order.values()),
            "alpha": ALPHA, "weights": list(WEIGHTS)}


def _ridge(blocks: list[tuple[np.ndarray, np.ndarray, float]], alpha: float) -> np.ndarray:
    """Weighted ridge with an unpenalised intercept: minimise ``sum_j w_j |y_j - [X_j 1] b|^2 +
    alpha |b[:-1]|^2`` over the blocks ``(X_j, y_j, w_j)``; returns b (k + 1)."""
    k = blocks[0][0].shape[1]
    a, rhs = np.zeros((k + 1, k + 1)), np.zeros(k + 1)
    for x, y, w in blocks:
        if w == 0 or len(x) == 0:
            continue
        xa = np.hstack([x, np.ones((len(x), 1))])
        a += w * xa.T @ xa
        rhs += w * xa.T @ y
    a[:k, :k] += alpha * np.eye(k)
    return np.linalg.solve(a, rhs)


def _predict(b: np.ndarray, x: np.ndarray) -> np.ndarray:
    return x @ b[:-1] + b[-1]


def labelled_keys(data: dict, fold: dict, k: int) -> list[str]:
    """The fold's labelled training trials: each training subject's first ``k`` in its order (at least
    one, at most all)."""
    train = set(fold["train"])
    out = []
    for s, keys in data["order"].items():
        mine = [key for key in keys if key in train]
        out += mine[:max(1, min(k, len(mine)))]
    return sorted(out)


def linear_distillation(data: dict, k: int, w: float) -> dict:
    """Teacher, student and taught student of every fold with ``k`` labelled trials per subject and the
    teacher's weight ``w``; returns ``{model: {"per_trial": mean CCC, "concatenated": mean CCC}}``
    (means over folds; per trial: the mean over the fold's test trials first)."""
    arr = {key: {f: np.asarray(t[f], np.float64) for f in ("y", "eeg", "face")} for key, t in data["trials"].items()}
    alpha = float(data["alpha"])
    scores = {m: {"per_trial": [], "concatenated": []} for m in ("teacher", "student", "taught")}
    for fold in data["folds"]:
        lab = labelled_keys(data, fold, k)
        teacher = _ridge([(arr[key]["face"], arr[key]["y"], 1.0) for key in lab], alpha)
        student = _ridge([(arr[key]["eeg"], arr[key]["y"], 1.0) for key in lab], alpha)
        blocks = [(arr[key]["eeg"], arr[key]["y"], 1.0) for key in lab]
        blocks += [(arr[key]["eeg"], _predict(teacher, arr[key]["face"]), w) for key in fold["train"]
                   if key not in set(lab)]
        taught = _ridge(blocks, alpha)
        preds = {"teacher": {key: _predict(teacher, arr[key]["face"]) for key in fold["test"]},
                 "student": {key: _predict(student, arr[key]["eeg"]) for key in fold["test"]},
                 "taught": {key: _predict(taught, arr[key]["eeg"]) for key in fold["test"]}}
        for m, p in preds.items():
            per = [ccc(arr[key]["y"], p[key]) for key in fold["test"]]
            scores[m]["per_trial"].append(float(np.nanmean(per)))
            scores[m]["concatenated"].append(ccc(np.concatenate([arr[key]["y"] for key in fold["test"]]),
                                                 np.concatenate([p[key] for key in fold["test"]])))
    return {m: {s: float(np.mean(v)) for s, v in d.items()} for m, d in scores.items()}


def _curve(data: dict, w: float) -> dict:
    return {k: linear_distillation(data, k, w) for k in range(1, data["k_max"] + 1)}


_W, _H, _PAD = 460.0, 240.0, 40.0
_COLOURS = style.palette(("teacher", "student", "taught"))  # the book's colours (emokd.core.style)
_NAMES = {"teacher": "teacher (face)", "student": "student (EEG, labels only)",
          "taught": "taught student (EEG, labels + teacher)"}


def _plot(curve: dict, k_max: int, k: int, y_lo: float, y_hi: float) -> str:
    def sx(kk):
        return _PAD + (_W - 2 * _PAD) * (kk - 1) / max(1, k_max - 1)

    def sy(v):
        return _H - _PAD - (_H - 2 * _PAD) * (v - y_lo) / (y_hi - y_lo)

    parts = [f'<svg data-view="curve" viewBox="0 0 {_W:.0f} {_H:.0f}" width="{_W:.0f}" height="{_H:.0f}" '
             'role="img" aria-label="per-trial CCC against the number of labelled trials per subject">']
    parts.append(f'<line x1="{_PAD}" y1="{sy(0):.1f}" x2="{_W - _PAD}" y2="{sy(0):.1f}" stroke="#999" '
                 'stroke-dasharray="3,3"/>')
    for kk in range(1, k_max + 1):
        parts.append(f'<text x="{sx(kk):.1f}" y="{_H - _PAD + 16:.1f}" text-anchor="middle">{kk}</text>')
    parts.append(f'<text x="{_W / 2:.1f}" y="{_H - 6:.1f}" text-anchor="middle">labelled trials per subject</text>')
    for v in (y_lo, (y_lo + y_hi) / 2, y_hi):
        parts.append(f'<text x="{_PAD - 4:.1f}" y="{sy(v) + 4:.1f}" text-anchor="end">{v:.2f}</text>')
    parts.append(f'<line data-role="cursor" x1="{sx(k):.1f}" y1="{_PAD:.1f}" x2="{sx(k):.1f}" '
                 f'y2="{_H - _PAD:.1f}" stroke="#666"/>')
    for i, m in enumerate(("teacher", "student", "taught")):
        pts = " ".join(f"{sx(kk):.1f},{sy(curve[kk][m]['per_trial']):.1f}" for kk in range(1, k_max + 1))
        parts.append(f'<polyline data-model="{m}" points="{pts}" fill="none" stroke="{_COLOURS[m]}" '
                     'stroke-width="2"/>')
        parts.append(f'<g data-legend="{m}" data-colour="{_COLOURS[m]}">'
                     f'<rect x="{_PAD + 6}" y="{_PAD - 30 + 12 * i}" width="10" height="3" style="fill:{_COLOURS[m]}"/>'
                     f'<text x="{_PAD + 20}" y="{_PAD - 26 + 12 * i}" style="fill:{_COLOURS[m]}">{_NAMES[m]}</text></g>')
    parts.append("</svg>")
    return "".join(parts)


def _table(scores: dict) -> str:
    rows = "".join(f'<tr><th style="color:{_COLOURS[m]}">{html.escape(_NAMES[m])}</th>'
                   f'<td data-metric="{m}-per_trial">{scores[m]["per_trial"]:.3f}</td>'
                   f'<td data-metric="{m}-concatenated">{scores[m]["concatenated"]:.3f}</td></tr>'
                   for m in ("teacher", "student", "taught"))
    return ('<table data-view="scores"><tr><th>model</th><th>CCC per trial</th><th>CCC concatenated</th></tr>'
            f"{rows}</table>")


def _caption(scores: dict, k: int, w: float) -> str:
    gain = scores["taught"]["per_trial"] - scores["student"]["per_trial"]
    return (f"{k} labelled trial(s) per subject, teacher weight {w:g}: the taught student's per-trial CCC is "
            f"{gain:+.3f} from the student's.")


def scarce_labels_html(data: dict, *, k: int = 1, w: float = 1.0, uid: str | None = None) -> str:
    """The kernel-free playground: selects for ``k`` (labelled trials per subject) and ``w`` (the
    teacher's weight); what Python draws first is what the script draws for the same selection."""
    if w not in data["weights"] or not 1 <= k <= data["k_max"]:
        raise EmokdError(f"k={k!r}, w={w!r}: k in 1..{data['k_max']}, w one of {data['weights']}")
    root_id = f"emokd-scarce-{playground_uid(uid)}"
    curve = _curve(data, w)
    all_vals = [s["per_trial"] for c in (_curve(data, ww) for ww in (0.0, max(data["weights"]))) for kk in c
                for s in c[kk].values()]
    y_lo = math.floor(min(0.0, min(all_vals)) * 10) / 10
    y_hi = math.ceil(max(all_vals) * 10) / 10 + 0.1
    controls = (select_control("k", "labelled trials per subject", [(kk, kk) for kk in range(1, data["k_max"] + 1)], k)
                + select_control("w", "teacher's weight", [(f"{ww:g}", f"{ww:g}") for ww in data["weights"]], f"{w:g}"))
    views = _plot(curve, data["k_max"], k, y_lo, y_hi) + _table(curve[k])
    script = resources.files(__package__).joinpath("static", "scarce_labels.js").read_text()
    payload = dict(data, y_lo=y_lo, y_hi=y_hi, w_px=_W, h_px=_H, pad=_PAD)
    return playground_fragment("scarcelabels", root_id, f"{k}|{w:g}", controls, views, _caption(curve[k], k, w),
                     json_safe(payload), script)
