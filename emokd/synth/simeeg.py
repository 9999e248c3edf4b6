"""Synthetic EEG with a planted valence effect (pure numpy, no I/O).

The signal of one recording, in microvolts, is built from sources at the 32
electrode sites and then mixed between neighbouring electrodes:

* a 1/f^1.5 background (every channel);
* posterior alpha: a narrow band around the subject's alpha peak, strongest at
  O1/Oz/O2 and fading with distance, waxing and waning slowly;
* planted components: band-limited activity (e.g. 18-30 Hz) at every channel
  whose *power* follows valence at the planted channels:
  ``power ∝ exp(offset_s + gain_s * eeg_gain * w_c * z(t) + nuisance_sd * eta(t))``,
  with z the valence in SD units, w_c the planted channel weight, offset_s and
  gain_s the subject bias, and eta a slow non-emotional fluctuation;

then, after mixing (volume conduction, a Gaussian of inter-electrode distance):
blinks in frontal channels, optional facial EMG (20-100 Hz) in frontal and
temporal channels following the expression, and 50 Hz line noise.
"""

from __future__ import annotations

import numpy as np

from ..core.constants import EEG_CHANNELS
from ..core.config import PlantedComponent
# the Biosemi-32 positions live in emokd.io.montage; re-exported here, where the book and
# emokd.synth.synthetic have always found them (simeeg.electrode_positions)
from ..io.montage import electrode_positions

FRONTAL = ("Fp1", "Fp2", "AF3", "AF4", "F7", "F8", "F3", "F4", "Fz")
EMG_SITES = ("Fp1", "Fp2", "AF3", "AF4", "F7", "F8", "T7", "T8", "FC5", "FC6")


def mixing_matrix(positions, width_m: float) -> np.ndarray:
    """Volume conduction: each electrode sees its neighbours' sources.

    Parameters
    ----------
    positions : ndarray, shape (n_channels, 3), in m
    width_m : float
        SD of the Gaussian weight of distance; 0 means no mixing.

    Returns
    -------
    mixing : ndarray, shape (n_channels, n_channels)
        Rows sum (in squares) to 1, so uncorrelated unit sources stay unit variance.
    """
    n_chans = len(positions)
    if width_m <= 0:
        return np.eye(n_chans)
    dist = np.linalg.norm(positions[:, None, :] - positions[None, :, :], axis=-1)
    mix = np.exp(-(dist**2) / (2 * width_m**2))
    return mix / np.sqrt((mix**2).sum(axis=1, keepdims=True))


def band_noise(rng, n_chans: int, n_times: int, sfreq: float, lo: float, hi: float) -> np.ndarray:
    """Gaussian noise band-limited to lo-hi Hz (soft 1 Hz edges), unit variance, (n_chans, n_times)."""
    freqs = np.fft.rfftfreq(n_times, 1.0 / sfreq)
    gain = np.clip((freqs - lo + 0.5), 0, 1) * np.clip((hi + 0.5 - freqs), 0, 1)
    spec = np.fft.rfft(rng.standard_normal((n_chans, n_times)), axis=-1) * gain
    noise = np.fft.irfft(spec, n=n_times, axis=-1)
    return noise / noise.std(axis=-1, keepdims=True)


def pink_noise(rng, n_chans: int, n_times: int, sfreq: float, exponent: float = 1.5) -> np.ndarray:
    """Noise with power ∝ 1/f**exponent above 0.5 Hz, unit variance, (n_chans, n_times)."""
    freqs = np.fft.rfftfreq(n_times, 1.0 / sfreq)
    gain = np.maximum(freqs, 0.5) ** (-exponent / 2)
    gain[0] = 0.0
    spec = np.fft.rfft(rng.standard_normal((n_chans, n_times)), axis=-1) * gain
    noise = np.fft.irfft(spec, n=n_times, axis=-1)
    return noise / noise.std(axis=-1, keepdims=True)


def pink_band_fraction(lo: float, hi: float, sfreq: float, exponent: float = 1.5) -> float:
    """Fraction of the power of :func:`pink_noise` that lies in lo-hi Hz."""
    freqs = np.linspace(0, sfreq / 2, 8193)[1:]
    power = np.maximum(freqs, 0.5) ** -exponent
    return float(power[(freqs >= lo) & (freqs <= hi)].sum() / power.sum())


def slow_noise(rng, shape, n_times: int, sfreq: float, time_constant_s: float = 4.0) -> np.ndarray:
    """Smooth unit-variance Gaussian processes, shape (*shape, n_times).

    Made at 4 Hz by Gaussian smoothing of white noise, then linearly interpolated.
    """
    rate = 4.0
    n_slow = int(np.ceil(n_times / sfreq * rate)) + 2
    sd = time_constant_s * rate
    half = int(4 * sd)
    kernel = np.exp(-0.5 * (np.arange(-half, half + 1) / sd) ** 2)
    white = rng.standard_normal((*shape, n_slow + 2 * half))
    smooth = np.apply_along_axis(lambda v: np.convolve(v, kernel, mode="valid"), -1, white)
    smooth /= np.sqrt((kernel**2).sum())
    slow_time_s = np.arange(n_slow) / rate
    time_s = np.arange(n_times) / sfreq
    return np.apply_along_axis(lambda v: np.interp(time_s, slow_time_s, v), -1, smooth)


def planted_weights(pattern, rng, ch_names=EEG_CHANNELS) -> np.ndarray:
    """Per-channel weight of each planted component, shape (n_components, n_channels).

    Channels named in a component get weights drawn from U(0.6, 1); with
    ``("all",)`` every channel gets one from U(0.3, 1), so a "diffuse" effect
    still has a ranking that saliency can recover. Other channels get 0.
    """
    weights = np.zeros((len(pattern), len(ch_names)))
    for k, comp in enumerate(pattern):
        if "all" in comp.channels:
            weights[k] = rng.uniform(0.3, 1.0, len(ch_names))
        else:
            picks = [ch_names.index(ch) for ch in comp.channels]
            weights[k, picks] = rng.uniform(0.6, 1.0, len(picks))
        weights[k] *= comp.weight
    return weights


def truth_map(pattern: tuple[PlantedComponent, ...], weights, bands) -> np.ndarray:
    """Planted effect on the feature bands, shape (n_bands, n_channels).

    Component k adds ``weights[k]`` to each feature band in proportion to the
    fraction of the component's band that the feature band covers.
    """
    out = np.zeros((len(bands), weights.shape[1]))
    for k, comp in enumerate(pattern):
        for b, (lo, hi) in enumerate(bands):
            overlap = max(0.0, min(hi, comp.hi_hz) - max(lo, comp.lo_hz))
            out[b] += weights[k] * overlap / (comp.hi_hz - comp.lo_hz)
    return out


def simulate_eeg(
    z,
    *,
    cfg,
    subject: dict,
    weights,
    mixing,
    rng: np.random.Generator,
    blink_samples=(),
    expression=None,
    ch_names=EEG_CHANNELS,
) -> np.ndarray:
    """One recording of synthetic EEG.

    Parameters
    ----------
    z : ndarray, shape (n_times,)
        Valence in SD units at every sample (0 outside the stimulus).
    cfg : SynthConfig
    subject : dict
        ``offsets`` (n_components,), ``gain`` (float), ``alpha_hz`` (float) and
        ``scale`` (float): the subject's bias.
    weights : ndarray, shape (n_components, n_channels)
        From :func:`planted_weights`.
    mixing : ndarray, shape (n_channels, n_channels)
        From :func:`mixing_matrix`.
    rng : numpy.random.Generator
    blink_samples : sequence of int
        Sample index of each blink's start.
    expression : ndarray, shape (n_times,), optional
        Facial expression at every sample (drives EMG when ``cfg.emg_leakage``).

    Returns
    -------
    eeg : ndarray, shape (n_channels, n_times), in microvolts
    """
    n_chans, n_times, sfreq = len(ch_names), z.size, cfg.sfreq
    sources = pink_noise(rng, n_chans, n_times, sfreq) * cfg.background_uv

    # posterior alpha, fading with distance from the occipital pole
    positions = electrode_positions(ch_names)
    occipital = positions[[ch_names.index(ch) for ch in ("O1", "Oz", "O2")]].mean(axis=0)
    alpha_weight = np.exp(-np.linalg.norm(positions - occipital, axis=1) ** 2 / (2 * 0.06**2))
    alpha_env = np.exp(0.4 * slow_noise(rng, (n_chans,), n_times, sfreq, 3.0))
    peak_hz = subject["alpha_hz"]
    alpha = band_noise(rng, n_chans, n_times, sfreq, peak_hz - 1.0, peak_hz + 1.0) * alpha_env
    sources += cfg.alpha_uv * alpha_weight[:, None] * alpha / alpha_env.std()

    # planted components: power follows valence at the planted channels
    for k, comp in enumerate(cfg.pattern):
        base_uv = cfg.background_uv * np.sqrt(
            cfg.planted_power_ratio * pink_band_fraction(comp.lo_hz, comp.hi_hz, sfreq)
        )
        nuisance = slow_noise(rng, (n_chans,), n_times, sfreq, 4.0)
        log_power = (
            subject["offsets"][k]
            + subject["gain"] * cfg.eeg_gain * weights[k][:, None] * z[None, :]
            + cfg.nuisance_sd * nuisance
        )
        activity = band_noise(rng, n_chans, n_times, sfreq, comp.lo_hz, comp.hi_hz)
        sources += base_uv * np.exp(0.5 * log_power) * activity

    eeg = mixing @ sources * subject["scale"]  # (C, T): volume conduction

    # blinks: ~300 ms bumps, strongest at Fp1/Fp2
    front = np.array([{"Fp1": 1.0, "Fp2": 1.0, "AF3": 0.6, "AF4": 0.6}.get(ch, 0.3 if ch in FRONTAL else 0.03)
                      for ch in ch_names])
    width = int(0.3 * sfreq)
    bump = np.sin(np.pi * np.arange(width) / width) ** 2
    for onset in blink_samples:
        span = slice(onset, min(onset + width, n_times))
        eeg[:, span] += cfg.blink_uv * rng.uniform(0.7, 1.3) * front[:, None] * bump[: span.stop - onset]

    if cfg.emg_leakage > 0 and expression is not None:
        sites = np.array([ch in EMG_SITES for ch in ch_names], dtype=float)
        emg = band_noise(rng, n_chans, n_times, sfreq, 20.0, min(100.0, sfreq / 2 - 1))
        eeg += cfg.emg_leakage * cfg.background_uv * sites[:, None] * np.abs(expression)[None, :] * emg

    time_s = np.arange(n_times) / sfreq
    line_uv = cfg.line_noise_uv * rng.uniform(0.5, 1.5, (n_chans, 1))
    eeg += line_uv * np.sin(2 * np.pi * 50.0 * time_s + rng.uniform(0, 2 * np.pi, (n_chans, 1)))
    return eeg
