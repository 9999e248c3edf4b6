"""Choose the frozen-backbone teacher's frame augmentation (and learning rate) on validation CCC.

With cached embeddings a random crop is no longer possible (it would need an
embedding per crop); what remains is a random frame per step and a flip per window.
This trains only the teachers of the book's LOSO experiment (8 folds, seed 0) for
each variant and reports, per variant, the mean over folds of the best validation
CCC -- the number the choice is made on -- and, only for the record, the test CCC.

Run:  python studies/select_teacher.py [--preset book] [--variants none:1e-3 frame:1e-3 frame+flip:1e-3]
Writes studies/results/teacher_selection_<preset>.json.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
from pathlib import Path

import numpy as np
from joblib import Parallel, delayed

from emokd.teaching import book
from emokd.core.config import experiment_config
from emokd.training.datasets import make_folds
from emokd.nn.embeddings import cached_embeddings
from emokd.training.folddata import load_trials
from emokd.core.fileio import write_json
from emokd.training.fold import train_teacher

RESULTS = Path(__file__).resolve().parent / "results"


def _teacher_fold(prepared, fold, cfg, emb_path, out):
    """One fold's teacher trained alone, as in a run (``emokd.training.fold.train_teacher``, its log in
    ``out/folds/fold_XX/teacher.log.jsonl``): its validation and test CCC."""
    r = train_teacher(prepared, fold, cfg, out, n_threads=1, resume=False, embeddings=emb_path)
    return {"fold": fold.fold, "best_val_ccc": r["best_val_ccc"], "best_epoch": r["best_epoch"],
            "epochs_run": r["epochs_run"], "test_ccc": r["metrics"]["concatenated"]["ccc"], "seconds": r["seconds"]}


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
            rows = Parallel(n_jobs=args.n_jobs)(delayed(_teacher_fold)(prepared, f, cfg, emb_path, Path(tmp) / variant)
                                                for f in folds)
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
    print("wrote", write_json(RESULTS / f"teacher_selection_{preset}.json",
                              {"preset": preset, "seed": book.SEED, "variants": out, "chosen": chosen,
                               "criterion": "mean over the 8 LOSO folds of the teacher's best validation CCC"},
                              indent=2))


if __name__ == "__main__":
    main()
