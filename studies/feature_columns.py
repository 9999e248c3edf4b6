"""Evidence for the column layout of the release's 128 EEG features, with topographies.

Reads the local copy of the feature release and prints, for the documented
reading (band-major, theta/alpha/beta/gamma, Biosemi channel order) and the
rival one (channel-major), the numbers the tests in tests/io/test_feature_columns.py
check. Draws the mean of each band on the scalp (MNE, biosemi32 montage).

Run:  python studies/feature_columns.py [--data ../shared/data/mahnob-hci]
Writes results/mahnob-features/eeg_columns.json and eeg_columns.png.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from emokd.core.constants import EEG_CHANNELS
from emokd.core.fileio import atomic_path, write_json
from emokd.io.features import EEG_BANDS, load_feature_release

ROOT = Path(__file__).resolve().parents[1]

OUT = ROOT / "results" / "mahnob-features"
PAIRS = [("Fp1", "Fp2"), ("AF3", "AF4"), ("F3", "F4"), ("F7", "F8"), ("FC5", "FC6"), ("FC1", "FC2"), ("C3", "C4"),
         ("T7", "T8"), ("CP5", "CP6"), ("CP1", "CP2"), ("P3", "P4"), ("P7", "P8"), ("PO3", "PO4"), ("O1", "O2")]


def symmetry(profiles: np.ndarray) -> np.ndarray:
    left = [EEG_CHANNELS.index(a) for a, _ in PAIRS]
    right = [EEG_CHANNELS.index(b) for _, b in PAIRS]
    return np.array([np.corrcoef(p[left], p[right])[0, 1] for p in profiles])


def evidence(means: np.ndarray, n_perm: int = 2000, seed: int = 0) -> dict:
    band_major, channel_major = means.reshape(4, 32), means.reshape(32, 4).T
    iu = np.triu_indices(4, 1)
    rng = np.random.default_rng(seed)
    null = np.array([symmetry(band_major[:, rng.permutation(32)]).mean() for _ in range(n_perm)])
    z = (band_major - np.median(band_major, 1, keepdims=True)) / band_major.std(1, keepdims=True)
    t = [EEG_CHANNELS.index("T7"), EEG_CHANNELS.index("T8")]
    return {
        "block_profile_correlation": {"band_major": np.corrcoef(band_major)[iu].round(3).tolist(),
                                      "channel_major": np.corrcoef(channel_major)[iu].round(3).tolist()},
        "left_right_symmetry": {"band_major": symmetry(band_major).round(3).tolist(),
                                "channel_major": symmetry(channel_major).round(3).tolist(),
                                "random_orders_mean": round(float(null.mean()), 3),
                                "random_orders_q999": round(float(np.quantile(null, 0.999)), 3)},
        "block_means": band_major.mean(1).round(3).tolist(),
        # every column's mean, band-major (chapter 08 draws the blocks on the scalp from them)
        "column_means": means.round(4).tolist(),
        "t7_t8_z_by_block": z[:, t].mean(1).round(3).tolist(),
        "top_channels_by_block": {b: [EEG_CHANNELS[i] for i in np.argsort(band_major[k])[::-1][:4]]
                                  for k, b in enumerate(EEG_BANDS)},
    }


def topomaps(means: np.ndarray, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import mne

    from emokd.io.montage import eeg_info

    info = eeg_info(256.0)
    blocks = means.reshape(4, 32)
    fig, axes = plt.subplots(2, 3, figsize=(6.76, 5.0))  # two rows: readable at the book's page width
    axes[1, 2].remove()
    for ax, data, title in zip(axes.flat, [*blocks, blocks[1] - blocks[0]],
                               [f"block {k}: {b}" for k, b in enumerate(EEG_BANDS)] + ["alpha − theta"]):
        im, _ = mne.viz.plot_topomap(data, info, axes=ax, show=False, cmap="viridis")
        ax.set_title(title, fontsize=10)
        fig.colorbar(im, ax=ax, shrink=0.7)
    fig.suptitle("Mean of the release's EEG columns,\nread band-major in the Biosemi channel order")
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100, bbox_inches="tight", format="png")
    plt.close(fig)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "mahnob-hci"))
    args = ap.parse_args(argv)
    trials = load_feature_release(args.data)
    means = np.concatenate([t["eeg"] for t in trials]).astype(np.float64).mean(axis=0)
    result = evidence(means)
    OUT.mkdir(parents=True, exist_ok=True)
    write_json(OUT / "eeg_columns.json", result)
    topomaps(means, OUT / "eeg_columns.png")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
