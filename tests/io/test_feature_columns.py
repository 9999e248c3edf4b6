"""How the 128 EEG columns of the real feature release map to (band, channel).

The release does not document its columns; these tests hold the evidence for
the documented reading (emokd.io.features: band-major, bands theta/alpha/beta/gamma,
channels in the Biosemi order). Each check also runs on the rival reading
(channel-major) or on random channel orders, so it can fail.
"""

import numpy as np
import pytest

from emokd.core.constants import EEG_CHANNELS
from emokd.io.features import EEG_BANDS, eeg_band_channel, eeg_column_names

HOMOLOGUES = [("Fp1", "Fp2"), ("AF3", "AF4"), ("F3", "F4"), ("F7", "F8"), ("FC5", "FC6"), ("FC1", "FC2"),
              ("C3", "C4"), ("T7", "T8"), ("CP5", "CP6"), ("CP1", "CP2"), ("P3", "P4"), ("P7", "P8"),
              ("PO3", "PO4"), ("O1", "O2")]
LEFT = [EEG_CHANNELS.index(a) for a, _ in HOMOLOGUES]
RIGHT = [EEG_CHANNELS.index(b) for _, b in HOMOLOGUES]


def _idx(*names):
    return [EEG_CHANNELS.index(n) for n in names]


@pytest.fixture(scope="module")
def means(release):
    """Mean of each of the 128 columns over all 77,536 time steps."""
    return np.concatenate([t["eeg"] for t in release]).astype(np.float64).mean(axis=0)


def _symmetry(profiles):
    """Per band: correlation of left electrodes with their right homologues."""
    return np.array([np.corrcoef(p[LEFT], p[RIGHT])[0, 1] for p in profiles])


def test_names_and_reshape_agree():
    names = eeg_column_names()
    assert len(names) == 128 and names[0] == "theta_Fp1" and names[32] == "alpha_Fp1" and names[-1] == "gamma_O2"
    x = np.arange(2 * 128).reshape(2, 128)
    bc = eeg_band_channel(x)
    for col in (0, 5, 33, 127):
        band, ch = names[col].split("_")
        assert bc[1, EEG_BANDS.index(band), EEG_CHANNELS.index(ch)] == x[1, col]


def test_band_major_blocks_share_one_spatial_profile(means):
    band_major = means.reshape(4, 32)
    channel_major = means.reshape(32, 4).T
    iu = np.triu_indices(4, 1)
    r_band = np.corrcoef(band_major)[iu]
    r_chan = np.corrcoef(channel_major)[iu]
    assert r_band.min() > 0.5, r_band
    assert r_band.mean() > r_chan.mean() + 0.3, (r_band, r_chan)


def test_biosemi_order_gives_left_right_symmetric_blocks(means):
    band_major = means.reshape(4, 32)
    sym = _symmetry(band_major)
    rng = np.random.default_rng(0)
    null = np.array([_symmetry(band_major[:, rng.permutation(32)]).mean() for _ in range(1000)])
    assert sym.min() > 0.9, sym
    assert sym.mean() > np.quantile(null, 0.999), (sym, np.quantile(null, 0.999))
    assert _symmetry(means.reshape(32, 4).T).mean() < 0.5  # the rival reading is not symmetric


def test_band_order_theta_alpha_beta_gamma(means):
    theta, alpha, beta, gamma = means.reshape(4, 32)
    # 1/f: theta above alpha everywhere on average; the slow block peaks at the eyes (blinks)
    assert theta.mean() > alpha.mean()
    assert set(np.argsort(theta)[-2:]) == set(_idx("Fp1", "Fp2"))
    # alpha relative to theta is higher over the back of the head than the front
    posterior = _idx("P3", "P4", "P7", "P8", "PO3", "PO4", "O1", "O2", "Oz", "Pz")
    frontal = _idx("Fp1", "Fp2", "AF3", "AF4", "F3", "F4", "F7", "F8", "Fz")
    assert (alpha - theta)[posterior].mean() > (alpha - theta)[frontal].mean()
    # temporal muscle (EMG) at T7/T8 stands out more in each higher band
    blocks = means.reshape(4, 32)
    z = (blocks - np.median(blocks, axis=1, keepdims=True)) / blocks.std(axis=1, keepdims=True)
    temporal = z[:, _idx("T7", "T8")].mean(axis=1)
    assert np.all(np.diff(temporal) > 0), temporal
    assert set(np.argsort(gamma)[-2:]) == set(_idx("T7", "T8"))
    assert set(np.argsort(beta)[-1:]) <= set(_idx("T7", "T8"))
