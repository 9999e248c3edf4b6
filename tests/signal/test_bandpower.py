"""band_power: known answers, parity with a plain scipy loop, and bad arguments."""

import numpy as np
import pytest
from scipy.integrate import simpson
from scipy.signal import welch

from emokd.core.constants import BANDS
from emokd.signal.bandpower import band_power, band_weights
from emokd.errors import EmokdError

SFREQ = 256.0


def loop_band_power(x, sfreq, bands=BANDS, window_s=2.0, hop_s=0.25, welch_s=1.0, relative=True):
    """The obvious implementation: one scipy.signal.welch call per window."""
    window, hop, nperseg = int(window_s * sfreq), int(hop_s * sfreq), int(welch_s * sfreq)
    n_windows = (x.shape[1] - window) // hop + 1
    out = np.empty((n_windows, len(bands), x.shape[0]))
    for k in range(n_windows):
        freqs, psd = welch(x[:, k * hop : k * hop + window], sfreq, nperseg=nperseg)
        total = simpson(psd, x=freqs, axis=-1)
        for b, (lo, hi) in enumerate(bands):
            sel = (freqs >= lo) & (freqs <= hi)
            power = simpson(psd[:, sel], x=freqs[sel], axis=-1)
            out[k, b] = power / total if relative else power
    return out


@pytest.mark.parametrize("relative", [True, False])
def test_parity_with_per_window_loop(relative):
    rng = np.random.default_rng(0)
    # brown-ish noise plus a sine, 4 channels, 20 s: realistic dynamic range
    x = np.cumsum(rng.standard_normal((4, int(20 * SFREQ))), axis=1) * 1e-6
    x += 5e-6 * np.sin(2 * np.pi * 10 * np.arange(x.shape[1]) / SFREQ)
    ours = band_power(x, SFREQ, relative=relative)
    ref = loop_band_power(x, SFREQ, relative=relative)
    assert ours.shape == ref.shape == ((x.shape[1] - 512) // 64 + 1, 6, 4)
    np.testing.assert_allclose(ours, ref, rtol=1e-10, atol=0)


@pytest.mark.parametrize(
    "params",
    [
        dict(window_s=1.5, hop_s=0.1, welch_s=0.5, sfreq=100.0),  # irregular segment grid
        dict(window_s=2.0, hop_s=0.3, welch_s=0.75, sfreq=160.0),
        dict(window_s=1.0, hop_s=1.0, welch_s=1.0, sfreq=128.0),  # one segment per window
        dict(window_s=2.0, hop_s=0.25, welch_s=0.50390625, sfreq=256.0),  # odd nperseg (129)
    ],
)
def test_parity_other_parameters(params):
    sfreq = params.pop("sfreq")
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, int(12 * sfreq)))
    bands = ((1.0, 4.0), (4.0, 13.0), (13.0, sfreq / 2))
    ours = band_power(x, sfreq, bands=bands, **params)
    ref = loop_band_power(x, sfreq, bands=bands, **params)
    np.testing.assert_allclose(ours, ref, rtol=1e-10, atol=0)


def test_sine_peaks_in_alpha():
    t = np.arange(int(10 * SFREQ)) / SFREQ
    rng = np.random.default_rng(2)
    x = np.sin(2 * np.pi * 10.0 * t)[None, :] + 0.1 * rng.standard_normal((2, t.size))
    power = band_power(x, SFREQ)
    alpha = 2
    assert np.all(power.argmax(axis=1) == alpha)
    assert power[:, alpha].min() > 0.9


def test_white_noise_follows_band_widths():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((8, int(120 * SFREQ)))
    # bands away from DC, which the constant detrend removes (with part of bin 1)
    bands = ((2.0, 16.0), (16.0, 48.0), (48.0, 126.0))
    power = band_power(x, SFREQ, bands=bands).mean(axis=(0, 2))
    expected = np.array([14.0, 32.0, 78.0]) / 128.0
    np.testing.assert_allclose(power, expected, rtol=0.03)
    # the paper's bands: Simpson integrates from the first to the last 1 Hz bin
    # inside each band, so 0.3-4 Hz spans bins 1..4 (3 Hz), 4-8 Hz spans 4 Hz, ...
    paper = band_power(x, SFREQ).mean(axis=(0, 2))
    spans = np.array([np.floor(hi) - np.ceil(lo) for lo, hi in BANDS]) / 128.0
    np.testing.assert_allclose(paper, spans, rtol=0.03)


def test_window_count_and_timing():
    x = np.random.default_rng(4).standard_normal((2, 1000))
    # floor((1000 - 512) / 64) + 1 = 8 windows; the last covers samples 448..959
    assert band_power(x, SFREQ).shape == (8, 6, 2)
    # a burst of 10 Hz inside window 7 only (samples 960.. are in no window) changes nothing
    y = x.copy()
    y[:, 960:] += 100 * np.sin(2 * np.pi * 10 * np.arange(40) / SFREQ)
    np.testing.assert_array_equal(band_power(x, SFREQ), band_power(y, SFREQ))


def test_simpson_weights_match_scipy():
    rng = np.random.default_rng(5)
    y = rng.random(129)
    weights = band_weights(256, SFREQ, BANDS)
    freqs = np.arange(129.0)
    sel = (freqs >= 18) & (freqs <= 30)
    scale = 2.0 / (SFREQ * np.sum(np.hanning(257)[:-1] ** 2))
    np.testing.assert_allclose(y @ weights[:, 4], scale * simpson(y[sel], x=freqs[sel]), rtol=1e-12)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(window_s=60.0), "longer than the signal"),
        (dict(hop_s=0.0), "hop_s must be > 0"),
        (dict(hop_s=-0.25), "hop_s must be > 0"),
        (dict(hop_s=0.001), "not a whole number of samples"),
        (dict(bands=((30.0, 200.0),)), "outside the Nyquist range"),
        (dict(bands=((12.0, 8.0),)), "need 0 <= lo < hi"),
        (dict(bands=((10.2, 10.8),)), "frequency bin"),
        (dict(welch_s=4.0), "longer than window_s"),
        (dict(bands=()), "bands is empty"),
    ],
)
def test_bad_arguments(kwargs, match):
    x = np.zeros((2, 5 * 256)) + np.random.default_rng(6).standard_normal((2, 5 * 256))
    with pytest.raises(EmokdError, match=match):
        band_power(x, SFREQ, **kwargs)


def test_bad_signals():
    x = np.random.default_rng(7).standard_normal((3, 2048))
    with pytest.raises(EmokdError, match=r"shape \(n_channels, n_times\)"):
        band_power(x[0], SFREQ)
    y = x.copy()
    y[1, 100] = np.nan
    with pytest.raises(EmokdError, match=r"NaN or infinite values in channel\(s\) \[1\]"):
        band_power(y, SFREQ)
    y = x.copy()
    y[2] = 0.0
    with pytest.raises(EmokdError, match=r"channel\(s\) \[2\] have zero power"):
        band_power(y, SFREQ)
    with pytest.raises(EmokdError, match="sfreq"):
        band_power(x, -1.0)


def test_relative_power_does_not_depend_on_the_scale_of_the_signal():
    """x * 1e300 squared overflowed float64 and gave NaN without a word; relative power is scale-free,
    and absolute power is scale**2 times x's where float64 holds it, else refused naming the channel."""
    x = np.random.default_rng(8).standard_normal((3, 2048))
    want = loop_band_power(x, SFREQ)
    for scale in (1e300, 1e-300, 1e-6):
        np.testing.assert_allclose(band_power(x * scale, SFREQ), want, rtol=1e-10)
    np.testing.assert_allclose(band_power(x * 1e-6, SFREQ, relative=False),
                               loop_band_power(x, SFREQ, relative=False) * 1e-12, rtol=1e-10)
    y = x.copy()
    y[1] *= 1e300
    with pytest.raises(EmokdError, match=r"absolute band power overflows float64 in channel\(s\) \[1\]"):
        band_power(y, SFREQ, relative=False)
