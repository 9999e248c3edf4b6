"""Benchmark emokd.signal.bandpower.band_power against three references, in one run.

Signal: 32 channels x 10 minutes at 256 Hz (float64), the paper's parameters
(2 s windows, 0.25 s hop, 1 s Welch segments, six bands, relative power).

References:
  (a) loop:    scipy.signal.welch + simpson once per window (the obvious code);
  (b) stacked: scipy.signal.welch on all windows at once (a strided view), + simpson;
  (c) fft:     the bare real FFT of exactly the segments the result needs
               (precomputed, windowed), i.e. a floor no implementation can beat by much.
Targets: >= 10x faster than (a), >= 5x faster than (b), <= 3x the time of (c).

Each timing is the best of several repeats (the loop: fewer, it is slow), all
measured in this one process, so the ratios are comparable on a noisy machine.
Run:  python benchmarks/bench_bandpower.py   (writes benchmarks/results/bandpower.json)
"""

from __future__ import annotations

import os
import platform
import sys
import time

import numpy as np
import scipy
from _results import write_result
from numpy.lib.stride_tricks import sliding_window_view
from scipy import fft as sp_fft
from scipy.integrate import simpson
from scipy.signal import get_window, welch

from emokd.core.constants import BANDS
from emokd.signal.bandpower import band_power

SFREQ = 256
N_CHANS = 32
DURATION_S = 600
WINDOW, HOP, NPERSEG = 512, 64, 256


def loop(x):
    n_windows = (x.shape[1] - WINDOW) // HOP + 1
    out = np.empty((n_windows, len(BANDS), x.shape[0]))
    for k in range(n_windows):
        freqs, psd = welch(x[:, k * HOP : k * HOP + WINDOW], SFREQ, nperseg=NPERSEG)
        total = simpson(psd, x=freqs, axis=-1)
        for b, (lo, hi) in enumerate(BANDS):
            sel = (freqs >= lo) & (freqs <= hi)
            out[k, b] = simpson(psd[:, sel], x=freqs[sel], axis=-1) / total
    return out


def stacked(x):
    windows = sliding_window_view(x, WINDOW, axis=-1)[:, ::HOP]  # (C, W, 512), a view
    freqs, psd = welch(windows, SFREQ, nperseg=NPERSEG, axis=-1)  # (C, W, F)
    total = simpson(psd, x=freqs, axis=-1)
    out = np.stack(
        [simpson(psd[..., (freqs >= lo) & (freqs <= hi)], x=freqs[(freqs >= lo) & (freqs <= hi)], axis=-1)
         for lo, hi in BANDS],
        axis=1,
    )  # (C, B, W)
    return (out / total[:, None, :]).transpose(2, 1, 0)


def needed_segments(x):
    """The windowed segments band_power needs: every 64 samples (gcd of hop and step)."""
    n_windows = (x.shape[1] - WINDOW) // HOP + 1
    last = (n_windows - 1) * HOP + WINDOW - NPERSEG
    segs = sliding_window_view(x, NPERSEG, axis=-1)[:, 0 : last + 1 : 64]
    return np.ascontiguousarray(segs * get_window("hann", NPERSEG))  # (C, S, 256)


def best_of(fn, repeats):
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return min(times), result


def main() -> dict:
    rng = np.random.default_rng(0)
    x = np.cumsum(rng.standard_normal((N_CHANS, DURATION_S * SFREQ)), axis=1)
    segs = needed_segments(x)

    t_ours, ours = best_of(lambda: band_power(x, SFREQ), 7)
    t_fft, _ = best_of(lambda: sp_fft.rfft(segs, axis=-1), 7)
    t_stacked, ref_b = best_of(lambda: stacked(x), 3)
    t_loop, ref_a = best_of(lambda: loop(x), 2)

    err_a = float(np.max(np.abs(ours - ref_a) / np.abs(ref_a)))
    err_b = float(np.max(np.abs(ours - ref_b) / np.abs(ref_b)))
    result = {
        "signal": f"{N_CHANS} channels x {DURATION_S} s at {SFREQ} Hz, float64",
        "n_windows": int(ours.shape[0]),
        "n_segments_fft": int(segs.shape[0] * segs.shape[1]),
        "seconds": {"band_power": t_ours, "loop": t_loop, "stacked_welch": t_stacked, "bare_fft": t_fft},
        "ratios": {
            "loop_over_band_power": t_loop / t_ours,
            "stacked_over_band_power": t_stacked / t_ours,
            "band_power_over_bare_fft": t_ours / t_fft,
        },
        "targets": {"loop_over_band_power": ">= 10", "stacked_over_band_power": ">= 5",
                    "band_power_over_bare_fft": "<= 3"},
        "max_relative_difference": {"vs_loop": err_a, "vs_stacked": err_b},
        "machine": {"python": sys.version.split()[0], "numpy": np.__version__, "scipy": scipy.__version__,
                    "platform": platform.platform(), "cpus": os.cpu_count()},
    }
    r = result["ratios"]
    print(f"band_power      {t_ours * 1e3:8.1f} ms")
    print(f"(a) loop        {t_loop * 1e3:8.1f} ms   band_power is {r['loop_over_band_power']:5.1f}x faster (target >= 10)")
    print(f"(b) stacked     {t_stacked * 1e3:8.1f} ms   band_power is {r['stacked_over_band_power']:5.1f}x faster (target >= 5)")
    print(f"(c) bare FFT    {t_fft * 1e3:8.1f} ms   band_power takes {r['band_power_over_bare_fft']:5.2f}x its time (target <= 3)")
    print(f"max relative difference: vs loop {err_a:.1e}, vs stacked {err_b:.1e}")
    write_result("bandpower", result)
    return result


if __name__ == "__main__":
    main()
