"""Autograding the checked exercises (book/_tools/grading.py, nbgrader) and the checks' own-work flag.

Quick: the committed assignment source is what the chapters make, it holds every checked exercise with
its points, its solutions pass their checks run as its cells run, and a function that only runs emokd's
implementation is flagged whatever name it comes under. Slow (nbgrader's round trip, about a minute on
2 busy cores): the student version made by nbgrader, and the autograder on the instructor source (full
points), a correct student submission written independently (full points), a wrong one (the failing
exercise named, its points lost) and one that returns emokd's implementation (flagged, no points)."""

import csv
import functools
import importlib
import inspect
import json
import os
import sys
from pathlib import Path

import nbformat
import numpy as np
import pytest

from emokd.teaching import exercises

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "book" / "_tools"))

import grading  # noqa: E402


def test_the_committed_assignment_source_is_what_the_chapters_make():
    assert grading.main(["source", "--check"]) == 0, "run python book/_tools/grading.py source"


def test_every_checked_exercise_is_in_the_assignment_with_its_points():
    labels = [ex["label"] for ex in grading.checked_exercises()]
    assert sorted(labels) == sorted(grading.POINTS) and len(labels) == 6
    assert grading.points_of() == {label: grading.POINTS[label] for label in labels}
    cells = nbformat.read(grading.SOURCE, as_version=4).cells
    solutions = [c for c in cells if c.metadata["nbgrader"]["solution"]]
    assert len(solutions) == 6 and all(grading.BEGIN in c.source and grading.END in c.source for c in solutions)


def test_the_instructor_source_runs_and_passes_every_check():
    """The source's cells, run in order as a kernel would (each check with strict=True)."""
    ns = {}
    for c in nbformat.read(grading.SOURCE, as_version=4).cells:
        if c.cell_type == "code":
            body = c.source.rsplit("\n", 1)
            exec(compile(c.source, "source", "exec"), ns)
            if c.metadata["nbgrader"]["grade"]:
                assert body[-1] == "verdict" and ns["verdict"].passed, repr(ns["verdict"])


def test_the_stub_gives_back_the_chapters_starter():
    """nbgrader replaces each solution region by the stub of grading/nbgrader_config.py; what remains is
    the chapter's starter, so the checks say "not implemented yet" (done here with nbgrader's rule)."""
    import re

    config = (ROOT / "grading" / "nbgrader_config.py").read_text()
    stub = re.search(r'code_stub = \{"python": "([^"]+)"\}', config).group(1)
    for ex, cell in zip(grading.checked_exercises(),
                        [c for c in nbformat.read(grading.SOURCE, as_version=4).cells
                         if c.metadata["nbgrader"]["solution"]]):
        student = re.sub(r"( *)### BEGIN SOLUTION.*?### END SOLUTION", lambda m: m.group(1) + stub, cell.source,
                         flags=re.S)
        starter = ex["starter"].replace(grading.SETUP_IMPORT + "\n", "").lstrip("\n").rsplit("\n\n\n", 1)[0]
        assert student == starter, (student, starter)


# ------------------------------------------------------------------------- the own-work flag

def _ccc(y_true, y_pred):
    t, p = np.asarray(y_true, float), np.asarray(y_pred, float)
    cov = np.mean((t - t.mean()) * (p - p.mean()))
    return 2 * cov / (t.var() + p.var() + (t.mean() - p.mean()) ** 2)


def _copies_of_emokds_ccc():
    from emokd.core import metrics
    from emokd.core.metrics import ccc as my_helper  # imported before the check, under another name

    ns = dict(vars(metrics))
    exec(inspect.getsource(metrics.ccc).replace('"""', "'''"), ns)  # a verbatim copy of its code

    def by_attribute(y_true, y_pred):
        return metrics.ccc(y_true, y_pred)

    def renamed(y_true, y_pred):
        return my_helper(y_true, y_pred)

    def hidden(y_true, y_pred):
        return getattr(importlib.import_module("emokd.core." + "metrics"), "c" + "cc")(y_true, y_pred)

    def through_torch(y_true, y_pred):
        import torch
        from emokd.nn.losses import batch_ccc

        return float(batch_ccc(torch.tensor(y_pred)[None], torch.tensor(y_true)[None]))

    def profiler_off(y_true, y_pred):
        sys.setprofile(None)
        return _ccc(y_true, y_pred)

    return {"the function itself": metrics.ccc, "by attribute": by_attribute, "renamed": renamed,
            "hidden": hidden, "partial": functools.partial(metrics.ccc), "copied": ns["ccc"],
            "through torch": through_torch, "profiler switched off": profiler_off}


@pytest.mark.parametrize("how", list(_copies_of_emokds_ccc()))
def test_a_function_that_only_runs_emokds_implementation_is_flagged(how):
    fn = _copies_of_emokds_ccc()[how]
    v = exercises.check_ccc(fn)
    assert v.status == "flagged" and not v.passed, repr(v)
    assert ("emokd.core.metrics.ccc" in v.message or "batch_ccc" in v.message
            or "switched off" in v.message), v.message
    with pytest.raises(exercises.ExerciseError, match="⚑"):
        exercises.check_ccc(fn, strict=True)


def test_own_work_passes_and_what_an_exercise_allows_stays_allowed():
    import torch

    from emokd.nn.losses import ccc_loss, kd_objective

    assert exercises.check_ccc(_ccc).passed

    def kd_with_emokds_ccc_loss(pred, target, s, h, mask, w):  # allowed: the exercise says so
        task = ccc_loss(pred.squeeze(-1), target, mask)
        kd = ((h - s).abs().mean(-1) * mask).sum() / mask.sum()
        return task + w * kd, {"ccc_loss": task.item(), "kd_loss": kd.item(), "total": (task + w * kd).item()}

    def kd_returns_emokds(pred, target, s, h, mask, w):
        return kd_objective(pred, target, s, h, mask, kd_weight=w)

    assert exercises.check_kd_objective(kd_with_emokds_ccc_loss).passed
    v = exercises.check_kd_objective(kd_returns_emokds)
    assert v.status == "flagged" and "emokd.nn.losses.kd_objective" in v.message
    assert "ccc_loss for the first term" in v.message  # says what is allowed
    assert torch.is_grad_enabled()


def test_emokds_own_split_and_band_power_are_flagged_too():
    from emokd.signal.bandpower import band_power
    from emokd.training.datasets import make_folds

    v = exercises.check_loso_folds(lambda s, f=0.2, seed=0: make_folds(s, "loso", seed=seed, val_fraction=f))
    assert v.status == "flagged" and "make_folds" in v.message
    v = exercises.check_band_power(lambda x, sfreq: band_power(x, sfreq, window_s=x.shape[1] / sfreq)[0])
    assert v.status == "flagged" and "emokd.signal.bandpower" in v.message


def test_the_watch_ends_with_the_check():
    before = sys.getprofile()
    exercises.check_ccc(_copies_of_emokds_ccc()["by attribute"])
    assert sys.getprofile() is before


# ---------------------------------------------------------------------------- nbgrader's round trip

CORRECT = {  # written apart from the book's solutions, as a student might
    "ex-code-bandpower": "from scipy.signal import welch\nfrom scipy.integrate import simpson\n\n\n"
                         "def relative_band_power(window, sfreq):\n"
                         "    f, psd = welch(window, fs=sfreq, nperseg=int(sfreq))\n"
                         "    sel = [(f >= lo) & (f <= hi) for lo, hi in BANDS]\n"
                         "    return np.array([simpson(psd[:, s], x=f[s], axis=-1) for s in sel]) / "
                         "simpson(psd, x=f, axis=-1)",
    "ex-code-ccc": "def ccc(y_true, y_pred):\n    t, p = np.asarray(y_true, float), np.asarray(y_pred, float)\n"
                   "    c = ((t - t.mean()) * (p - p.mean())).mean()\n"
                   "    return 2 * c / (t.var() + p.var() + (t.mean() - p.mean()) ** 2)",
    "ex-code-loss": "def ccc_loss(pred, target, mask):\n    n = mask.sum(1)\n"
                    "    mp, mt = (pred * mask).sum(1) / n, (target * mask).sum(1) / n\n"
                    "    dp, dt = (pred - mp[:, None]) * mask, (target - mt[:, None]) * mask\n"
                    "    c = 2 * (dp * dt).sum(1) / n / ((dp * dp).sum(1) / n + (dt * dt).sum(1) / n + (mp - mt) ** 2"
                    " + 1e-8)\n    return 1 - c.mean()",
    "ex-code-kd": "from emokd.nn.losses import ccc_loss\n\n\ndef kd_objective(pred, target, s, h, mask, kd_weight):\n"
                  "    task = ccc_loss(pred.squeeze(-1), target, mask)\n"
                  "    kd = ((h - s).abs().mean(-1) * mask).sum() / mask.sum()\n    total = task + kd_weight * kd\n"
                  "    return total, {'ccc_loss': float(task), 'kd_loss': float(kd), 'total': float(total)}",
    "ex-code-step": "def train_step(model, batch, optimiser, loss_fn):\n    model.train()\n"
                    "    for p in model.parameters():\n        p.grad = None\n"
                    "    loss = loss_fn(model(batch['x']), batch)\n    loss.backward()\n    optimiser.step()\n"
                    "    return float(loss.detach())",
    "ex-code-loso": "from emokd.training.datasets import Fold\n\n\n"
                    "def loso_folds(subject_of, val_fraction=0.2, seed=0):\n    keys, out = sorted(subject_of), []\n"
                    "    for k, s in enumerate(sorted(set(subject_of.values()))):\n"
                    "        test = [x for x in keys if subject_of[x] == s]\n"
                    "        rest = [x for x in keys if subject_of[x] != s]\n"
                    "        idx = np.random.default_rng([seed, k]).permutation(len(rest))\n"
                    "        nv = max(1, round(val_fraction * len(rest)))\n"
                    "        out.append(Fold(k, tuple(sorted(rest[i] for i in idx[nv:])), "
                    "tuple(sorted(rest[i] for i in idx[:nv])), tuple(test)))\n    return out",
}
WRONG_CCC = "def ccc(y_true, y_pred):\n    return np.corrcoef(y_true, y_pred)[0, 1]"
COPIED_CCC = "import emokd.core.metrics as m\n\n\ndef ccc(y_true, y_pred):\n    return m.ccc(y_true, y_pred)"


def _answer(release: Path, out: Path, **changed):
    nb = nbformat.read(release, as_version=4)
    for c in nb.cells:
        gid = c.metadata.get("nbgrader", {}).get("grade_id", "").removesuffix("-answer")
        if c.metadata.get("nbgrader", {}).get("solution"):
            c.source = changed.get(gid, CORRECT[gid])
    nbformat.write(nb, out)


@pytest.mark.slow
def test_the_autograder_grades_the_source_a_correct_a_wrong_and_a_copied_submission(tmp_path, monkeypatch):
    pytest.importorskip("nbgrader")
    # the kernels nbgrader starts import this checkout's emokd
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    course = tmp_path / "course"
    release = grading.release(course)
    student = nbformat.read(release, as_version=4)
    text = "\n".join(c.source for c in student.cells)
    assert "### BEGIN SOLUTION" not in text and "population covariance" not in text
    answers = [c.source for c in student.cells if c.metadata.get("nbgrader", {}).get("solution")]
    assert len(answers) == 6 and all(a.count("...  # your code here") == 1 for a in answers)

    subs = tmp_path / "submissions"
    subs.mkdir()
    (subs / "instructor.ipynb").write_text(grading.SOURCE.read_text())
    _answer(release, subs / "correct.ipynb")
    _answer(release, subs / "wrong.ipynb", **{"ex-code-ccc": WRONG_CCC})
    (subs / "copied").mkdir()  # the other layout: STUDENT/NOTEBOOK.ipynb
    _answer(release, subs / "copied" / "mine.ipynb", **{"ex-code-ccc": COPIED_CCC})

    rows = grading.grade(subs, course)
    total = sum(grading.POINTS.values())
    got = {s: {r["exercise"]: r for r in rows if r["student"] == s} for s in ("instructor", "correct", "wrong", "copied")}
    for s in ("instructor", "correct"):
        assert sum(r["points"] for r in got[s].values()) == total, got[s]
    for s, words in (("wrong", "Pearson"), ("copied", "not your own work")):
        lost = [label for label, r in got[s].items() if r["points"] < r["max_points"]]
        assert lost == ["ex-code-ccc"], got[s]
        assert words in got[s]["ex-code-ccc"]["verdict"]
        assert sum(r["points"] for r in got[s].values()) == total - grading.POINTS["ex-code-ccc"]
    assert json.loads((course / "points.json").read_text()) == rows
    assert (course / "points.csv").read_text().count("\n") == len(rows) + 1
    with open(course / "grades.csv") as f:  # nbgrader's own export, one line per student
        totals = {r["student_id"]: float(r["score"]) for r in csv.DictReader(f)}
    assert totals == {"instructor": total, "correct": total, "wrong": total - grading.POINTS["ex-code-ccc"],
                      "copied": total - grading.POINTS["ex-code-ccc"]}
