"""How hard is the synthetic data? Linear probes, EEG vs face, leave-one-subject-out.

The synthetic generator must leave an EEG model clearly weaker than a face model
(as on real data). Before any deep model exists, this measures it with the
simplest honest model: ridge regression, standardised on the training subjects,
predictions smoothed over 4 s (a TCN sees about that much context), on
  EEG:  log relative band power, 6 bands x 32 channels per 4 Hz step;
  face: the first frame of each step, 2x2-downsampled, per-frame standardised.
Reports CCC on the concatenated predictions of all folds and per trial.

Run:  python studies/probe_snr.py [--preset book] [--seed 0]
Writes studies/results/probe_snr_<preset>_seed<seed>.json.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
from scipy.ndimage import uniform_filter1d

from emokd.core.config import synth_config
from emokd.core.fileio import write_json
from emokd.io.prepare import load_prepared, prepare_dataset
from emokd.synth.synthetic import generate

RESULTS = Path(__file__).resolve().parent / "results"


def ccc(y, p) -> float:
    """Lin's concordance correlation coefficient."""
    cov = np.mean((y - y.mean()) * (p - p.mean()))
    return float(2 * cov / (y.var() + p.var() + (y.mean() - p.mean()) ** 2))


def eeg_features(trial):
    return np.log(trial["eeg_bp"].reshape(len(trial["valence"]), -1))  # (T, 192), band-major


def face_features(trial):
    f = trial["frames"][:, 0].astype(np.float32)  # (T, 48, 48)
    f = f.reshape(len(f), 24, 2, 24, 2).mean(axis=(2, 4)).reshape(len(f), -1)  # (T, 576)
    return (f - f.mean(1, keepdims=True)) / (f.std(1, keepdims=True) + 1e-6)


def loso_ridge(trials, features, alpha_per_sample=1.0, smooth_steps=17) -> dict:
    X = [features(t) for t in trials]
    y = [t["valence"].astype(np.float64) for t in trials]
    subjects = np.array([t["subject"] for t in trials])
    preds, truths = [], []
    for s in np.unique(subjects):
        train, test = np.flatnonzero(subjects != s), np.flatnonzero(subjects == s)
        Xtr, ytr = np.concatenate([X[i] for i in train]), np.concatenate([y[i] for i in train])
        mu, sd = Xtr.mean(0), Xtr.std(0) + 1e-6
        A = (Xtr - mu) / sd
        w = np.linalg.solve(A.T @ A + alpha_per_sample * len(A) * np.eye(A.shape[1]), A.T @ (ytr - ytr.mean()))
        for i in test:
            preds.append(uniform_filter1d(((X[i] - mu) / sd) @ w + ytr.mean(), smooth_steps))
            truths.append(y[i])
    return {"ccc_concatenated": ccc(np.concatenate(truths), np.concatenate(preds)),
            "ccc_per_trial": float(np.mean([ccc(a, b) for a, b in zip(truths, preds)])),
            "n_folds": int(len(np.unique(subjects)))}


def main() -> dict:
    parser = argparse.ArgumentParser()
    parser.add_argument("--preset", default="book", choices=["smoke", "book", "paper"])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="emokd-probe-") as tmp:
        generate(Path(tmp) / "data", synth_config(args.preset), seed=args.seed, progress=False)
        prepare_dataset(Path(tmp) / "data", progress=False)
        trials = load_prepared(Path(tmp) / "data" / "prepared")
    result = {"preset": args.preset, "seed": args.seed,
              "eeg": loso_ridge(trials, eeg_features), "face": loso_ridge(trials, face_features)}
    for name in ("eeg", "face"):
        r = result[name]
        print(f"{name:4s} ridge, LOSO over {r['n_folds']} subjects: CCC {r['ccc_concatenated']:.3f} concatenated, "
              f"{r['ccc_per_trial']:.3f} per trial")
    write_json(RESULTS / f"probe_snr_{args.preset}_seed{args.seed}.json", result, indent=2)
    return result


if __name__ == "__main__":
    main()
