"""Constants every layer shares: the EEG channels of a MAHNOB-HCI recording, the paper's frequency
bands, the normalisation of face-frame pixels. Plain values, no imports: the bottom of the package."""

from __future__ import annotations

#: The 32 EEG channels of MAHNOB-HCI, in the order of the BDF files (Biosemi).
EEG_CHANNELS: tuple[str, ...] = (
    "Fp1", "AF3", "F3", "F7", "FC5", "FC1", "C3", "T7", "CP5", "CP1", "P3", "P7",
    "PO3", "O1", "Oz", "Pz", "Fp2", "AF4", "Fz", "F4", "F8", "FC6", "FC2", "Cz",
    "C4", "T8", "CP6", "CP2", "P4", "P8", "PO4", "O2",
)  # fmt: skip
#: The 15 other channels of a MAHNOB-HCI BDF file, after the EEG.
OTHER_CHANNELS: tuple[str, ...] = (
    "EXG1", "EXG2", "EXG3", "EXG4", "EXG5", "EXG6", "EXG7", "EXG8",
    "GSR1", "GSR2", "Erg1", "Erg2", "Resp", "Temp", "Status",
)  # fmt: skip
#: All 47 channels of a MAHNOB-HCI BDF file.
BDF_CHANNELS: tuple[str, ...] = EEG_CHANNELS + OTHER_CHANNELS

#: The paper's bands in Hz (delta, theta, alpha, low beta, beta, gamma).
BANDS: tuple[tuple[float, float], ...] = (
    (0.3, 4.0),
    (4.0, 8.0),
    (8.0, 12.0),
    (12.0, 18.0),
    (18.0, 30.0),
    (30.0, 45.0),
)
#: Readable names of :data:`BANDS`, in the same order.
BAND_NAMES: tuple[str, ...] = ("delta", "theta", "alpha", "low_beta", "beta", "gamma")
#: The four bands of the public feature release's EEG features (``eeg_band_feats_full``), in its column order
#: (inferred from the data: :mod:`emokd.io.features`, whose ``EEG_BANDS`` this is). Each is a name of
#: :data:`BAND_NAMES`, and their order is the same.
FEATURE_RELEASE_BANDS: tuple[str, ...] = ("theta", "alpha", "beta", "gamma")
#: The EEG electrodes nearest to the facial muscles (frontopolar, anterior frontal, temporal), where facial
#: EMG reaches the scalp most (studies/emg_controls.py, results/network-controls: ``--drop-channels``).
MUSCLE_CHANNELS: tuple[str, ...] = ("Fp1", "Fp2", "F7", "F8", "T7", "T8")

#: The paper's normalisation of face-frame pixels scaled to [0, 1]: ``(x - FRAME_MEAN) / FRAME_STD``.
FRAME_MEAN, FRAME_STD = 0.5, 0.5
