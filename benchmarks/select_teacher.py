"""Choose the frozen-backbone teacher's frame augmentation (and learning rate) on validation CCC.

With cached embeddings a random crop is no longer possible (it would need an
embedding per crop); what remains is a random frame per step and a flip per window.
This trains only the teachers of the book's LOSO experiment (8 folds, seed 0) for
each variant and reports, per variant, the mean over folds of the best validation
CCC -- the number the choice is made on -- and, only for the record, the test CCC.

Run:  python benchmarks/select_teacher.py [--preset book] [--variants none:1e-3 frame:1e-3 frame+flip:1e-3]
Writes benchmarks/results/teacher_selection_<preset>.json.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from _results import RESULTS, write_result
from joblib import Parallel, delayed

from emokd import book
from emokd.config import experiment_config
from emokd.datasets import WindowSet, make_folds
from emokd.embeddings import cached_embeddings, load_embeddings
from emokd.experiment import _seed, fold_inputs, load_trials
from emokd.metrics import fold_metrics
from emokd.models import build_model
from emokd.train import fit, predict


def _teacher_fold(prepared, fold, cfg, emb_path, log_path=None):
    """One fold's teacher trained alone (as in a run), its validation and test CCC; ``log_path``: its epoch log."""
    torch.set_num_threads(1)
    trials = load_trials(prepared, frames=False)
    emb = load_embeddings(emb_path)
    for k, t in trials.items():
        t["emb"] = emb[k]
    parts, _ = fold_inputs(trials, fold)
    tc = cfg.teacher_train
    seed = _seed(cfg.seed, fold.fold, "teacher")
    torch.manual_seed(seed)
    model = build_model(cfg.teacher)
    with torch.no_grad():
        model.final_layer.bias.fill_(float(np.mean(np.concatenate([t["valence"] for t in parts["train"]]))))
    sets = {p: WindowSet(parts[p], "emb", window_steps=tc.window_steps, hop_steps=tc.hop_steps,
                         augment=cfg.teacher.frame_augment) for p in parts}
    t0 = time.perf_counter()
    res = fit(model, sets["train"], sets["validation"], tc, seed=seed, log_path=log_path)
    pred = predict(model, sets["test"])
    test = fold_metrics({t["key"]: (t["valence"], pred[t["key"]]) for t in parts["test"]})
    return {"fold": fold.fold, "best_val_ccc": res.best_val_ccc, "best_epoch": res.best_epoch,
            "epochs_run": res.epochs_run, "test_ccc": test["concatenated"]["ccc"],
            "seconds": round(time.perf_counter() - t0, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="book")
    ap.add_argument("--variants", nargs="+", default=["none:1e-3", "frame:1e-3", "frame+flip:1e-3", "frame+flip:3e-4"])
    ap.add_argument("--n-jobs", type=int, default=2)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        import os

        os.environ.setdefault("EMOKD_CACHE", str(Path(tmp) / "cache"))
        _, prepared = book.synthetic_data(args.preset)
        base = experiment_config(args.preset, "loso", book.SEED)
        subjects = {k: t["subject"] for k, t in load_trials(prepared, frames=False).items()}
        folds = make_folds(subjects, "loso", seed=base.seed, n_folds=base.n_folds, val_fraction=base.val_fraction)
        path = RESULTS / f"teacher_selection_{args.preset}.json"
        out = json.loads(path.read_text())["variants"] if path.is_file() else {}  # earlier variants are kept
        for variant in args.variants:
            augment, lr = variant.split(":")
            cfg = dataclasses.replace(base, teacher=dataclasses.replace(base.teacher, frame_augment=augment),
                                      teacher_train=dataclasses.replace(base.teacher_train, lr=float(lr)))
            emb_path = cached_embeddings(prepared, cfg.teacher)
            rows = Parallel(n_jobs=args.n_jobs)(delayed(_teacher_fold)(prepared, f, cfg, emb_path) for f in folds)
            out[variant] = {"folds": rows,
                            "mean_best_val_ccc": round(float(np.mean([r["best_val_ccc"] for r in rows])), 4),
                            "mean_test_ccc": round(float(np.mean([r["test_ccc"] for r in rows])), 4),
                            "best_epochs": [r["best_epoch"] for r in rows]}
            print(f"{variant}: validation CCC {out[variant]['mean_best_val_ccc']:.4f} (test, for the record: "
                  f"{out[variant]['mean_test_ccc']:.3f}); best epochs {out[variant]['best_epochs']}", flush=True)
            _write(args.preset, out)  # after every variant: a cut run keeps what it finished
    print(f"chosen on validation: {max(out, key=lambda v: out[v]['mean_best_val_ccc'])}")


def _write(preset: str, out: dict) -> None:
    chosen = max(out, key=lambda v: out[v]["mean_best_val_ccc"])
    print("wrote", write_result(f"teacher_selection_{preset}",
                                {"preset": preset, "seed": book.SEED, "variants": out, "chosen": chosen,
                                 "criterion": "mean over the 8 LOSO folds of the teacher's best validation CCC"}))


if __name__ == "__main__":
    main()
