"""How much of the EEG's valence is the face's muscles? Band and channel ablations on the real release (issue 34).

The continuous labels of MAHNOB-HCI annotate the participants' *face videos* (Soleymani et al. 2016),
and facial muscle activity (EMG) reaches the scalp electrodes nearest to the face -- frontopolar,
frontal and temporal -- mostly above 20 Hz, i.e. in the beta and gamma bands. So a model that reads
valence from beta/gamma at those channels may read the face through the EEG. This script fits the
ridge student (:func:`emokd.evaluation.linear.ridge_fit_predict`: regularisation chosen on validation
CCC, as in every run's ``ref_ridge_student``) under LOSO on subsets of the release's 128 EEG features
(4 bands x 32 channels, :mod:`emokd.io.features`):

- ``all``; ``theta+alpha`` (4-13 Hz, little EMG); ``beta+gamma`` (13-45 Hz);
- ``no muscle channels``: without Fp1, Fp2, F7, F8, T7, T8 (:data:`MUSCLE_CHANNELS`), all bands;
- ``beta+gamma, no muscle channels`` and ``muscle channels only``.

For each, the mean over the 24 test subjects of the per-trial and the concatenated CCC, with
normalisation ``subject`` (the ``book_subject`` configuration) and ``train`` (``book``), and each
subset's per-subject difference from ``all`` with a paired t-test. Writes
``results/mahnob-features/emg_controls.json``, ``emg_controls.md`` and ``emg_controls.png``
(chapters 07 and 08 read them). The TCN student's ablations need a run per subset (hours each on
2 cores): not here.

    python studies/emg_controls.py [--data ../shared/data/mahnob-hci]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from scipy import stats as sp_stats

from emokd.core.constants import EEG_CHANNELS, MUSCLE_CHANNELS  # MUSCLE_CHANNELS: nearest the face
from emokd.core.fileio import write_json, write_text
from emokd.core.metrics import fold_metrics
from emokd.evaluation.linear import ridge_fit_predict
from emokd.io.features import EEG_BANDS
from emokd.training.datasets import make_folds
from emokd.training.folddata import fold_inputs, load_trials

REPO = Path(__file__).resolve().parents[1]


def subsets() -> dict[str, np.ndarray]:
    """Subset name -> the column indices of the band-major 128 features it keeps."""
    col = {(b, c): i * len(EEG_CHANNELS) + j for i, b in enumerate(EEG_BANDS) for j, c in enumerate(EEG_CHANNELS)}

    def pick(bands, channels):
        return np.array(sorted(col[b, c] for b in bands for c in channels))

    others = [c for c in EEG_CHANNELS if c not in MUSCLE_CHANNELS]
    return {"all": pick(EEG_BANDS, EEG_CHANNELS),
            "theta+alpha": pick(("theta", "alpha"), EEG_CHANNELS),
            "beta+gamma": pick(("beta", "gamma"), EEG_CHANNELS),
            "no muscle channels": pick(EEG_BANDS, others),
            "beta+gamma, no muscle channels": pick(("beta", "gamma"), others),
            "muscle channels only": pick(EEG_BANDS, MUSCLE_CHANNELS)}


def ablation(data_dir, normalisation: str) -> dict:
    """Per subset: per-subject CCC (per trial, concatenated), their means, and the paired test against all."""
    trials = load_trials(data_dir, "features")
    folds = make_folds({k: t["subject"] for k, t in trials.items()}, "loso", seed=0)
    per = {name: {"per_trial": {}, "concatenated": {}} for name in subsets()}
    for f in folds:
        parts = fold_inputs(trials, f, normalisation=normalisation, face_normalisation=normalisation).parts
        subject = str(trials[f.test[0]]["subject"])
        for name, cols in subsets().items():
            sub = {p: [dict(t, xs=t["x"][:, cols]) for t in ts] for p, ts in parts.items()}
            preds = ridge_fit_predict(sub, "xs").predictions
            m = fold_metrics({t["key"]: (t["valence"], preds[t["key"]]) for t in sub["test"]})
            for s in ("per_trial", "concatenated"):
                per[name][s][subject] = m[s]["ccc"]
    out = {}
    for name, d in per.items():
        entry = {"n_features": int(len(subsets()[name]))}
        for s, by in d.items():
            v = np.array(list(by.values()), float)
            entry[s] = {"mean": float(np.nanmean(v)), "by_subject": by}
            if name != "all":
                ref = np.array([per["all"][s][k] for k in by], float)
                t = sp_stats.ttest_rel(v, ref, nan_policy="omit")
                entry[s]["minus_all"] = {"mean": float(np.nanmean(v - ref)), "t_test_p": float(t.pvalue)}
        out[name] = entry
    return out


def figure(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(subsets())
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), sharey=True)
    for ax, (norm, res) in zip(axes, result["normalisations"].items()):
        y = np.arange(len(names))
        for k, (s, colour) in enumerate((("per_trial", "#2166ac"), ("concatenated", "#92c5de"))):
            ax.barh(y + (k - 0.5) * 0.38, [res[n][s]["mean"] for n in names], height=0.36, color=colour,
                    label=s.replace("_", " "))
        ax.set_yticks(y, names)
        ax.axvline(0, color="#666", lw=0.8)
        ax.set_title(f"ridge student, LOSO, {norm} normalisation")
        ax.set_xlabel("CCC (mean over 24 test subjects)")
    axes[0].invert_yaxis()
    axes[1].legend(loc="lower right", frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "mahnob-hci")
    ap.add_argument("--out", type=Path, default=REPO / "results" / "mahnob-features")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    result = {"muscle_channels": list(MUSCLE_CHANNELS), "subsets": {k: v.tolist() for k, v in subsets().items()},
              "normalisations": {norm: ablation(args.data, norm) for norm in ("subject", "train")}}
    result["seconds"] = round(time.perf_counter() - t0, 1)
    result["command"] = "python studies/emg_controls.py"
    write_json(args.out / "emg_controls.json", result)
    figure(result, args.out / "emg_controls.png")
    lines = ["# EMG controls: band and channel ablations of the ridge student (issue 34)", "",
             f"Written by `{result['command']}` ({result['seconds']} s on 2 cores); ridge regression on subsets of the "
             "release's 128 EEG features (4 bands x 32 channels), LOSO over 24 subjects, regularisation chosen on "
             "validation CCC. Muscle channels: " + ", ".join(MUSCLE_CHANNELS) + ".", ""]
    for norm, res in result["normalisations"].items():
        lines += [f"## normalisation `{norm}`", "", "| features | n | CCC per trial | minus all (p) | CCC concatenated | "
                  "minus all (p) |", "|---|---:|---:|---:|---:|---:|"]
        for name, e in res.items():
            cells = []
            for s in ("per_trial", "concatenated"):
                d = e[s].get("minus_all")
                cells += [f"{e[s]['mean']:.3f}", f"{d['mean']:+.3f} ({d['t_test_p']:.2g})" if d else ""]
            lines.append(f"| {name} | {e['n_features']} | " + " | ".join(cells) + " |")
        lines.append("")
    lines += ["![ridge ablations](emg_controls.png)", ""]
    write_text(args.out / "emg_controls.md", "\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
