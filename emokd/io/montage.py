"""The Biosemi-32 electrode layout of MAHNOB-HCI as MNE objects: one place for the montage.

MAHNOB-HCI records 32 EEG channels with a Biosemi ActiveTwo cap in the order of
:data:`~emokd.core.constants.EEG_CHANNELS`; their positions are those of MNE's standard
``biosemi32`` montage (an idealised head: electrodes on a sphere of radius
95 mm). Every part of emokd that needs positions asks this module:

* :func:`biosemi32` -- the montage (:class:`mne.channels.DigMontage`);
* :func:`electrode_positions` -- an array of positions, for numpy code (the
  volume conduction of :mod:`emokd.synth.simeeg`);
* :func:`eeg_info` -- an :class:`mne.Info` of EEG channels with the montage set
  (topomaps, :mod:`emokd.saliency.figures`);
* :func:`eeg_raw` -- an :class:`mne.io.RawArray` of an EEG array with the
  montage set (e.g. the prepared EEG of :func:`emokd.io.mahnob.read_eeg`);
* :func:`channel_types` -- MNE channel types of the 47 channels of a
  MAHNOB-HCI BDF file (used by :func:`emokd.io.mahnob.read_raw`).

MNE is imported inside the functions, so importing this module is cheap.
"""

from __future__ import annotations

import functools

import numpy as np

from ..core.constants import BDF_CHANNELS, EEG_CHANNELS
from ..errors import EmokdError

__all__ = ["MONTAGE", "NON_EEG_TYPES", "biosemi32", "channel_types", "eeg_info", "eeg_raw", "electrode_positions"]

#: Name of MNE's standard montage of the 32-channel Biosemi cap.
MONTAGE = "biosemi32"

#: MNE channel types of the channels of a MAHNOB-HCI BDF file after the 32 EEG channels
#: (Biosemi ActiveTwo names). The database records ECG on three external electrodes
#: (EXG1-3), skin conductance (GSR1-2), a respiration belt (Resp) and skin temperature
#: (Temp); the other external inputs (EXG4-8, Erg1-2) are typed ``misc``. Status is the
#: Biosemi trigger channel (stimulus start and end, see :func:`emokd.io.mahnob.find_stimulus`).
NON_EEG_TYPES: dict[str, str] = {
    **{f"EXG{i}": "ecg" for i in (1, 2, 3)},
    **{f"EXG{i}": "misc" for i in (4, 5, 6, 7, 8)},
    "GSR1": "gsr", "GSR2": "gsr",
    "Erg1": "misc", "Erg2": "misc",
    "Resp": "resp",
    "Temp": "temperature",
    "Status": "stim",
}  # fmt: skip


def biosemi32():
    """MNE's standard ``biosemi32`` montage (a new object each call: callers may modify it).

    Returns
    -------
    montage : mne.channels.DigMontage
        32 electrodes named as in :data:`~emokd.core.constants.EEG_CHANNELS`, plus the
        fiducials, on a sphere of radius 95 mm.
    """
    import mne

    return mne.channels.make_standard_montage(MONTAGE)


def _check_channels(ch_names) -> tuple[str, ...]:
    ch_names = tuple(str(c) for c in ch_names)
    unknown = [c for c in ch_names if c not in EEG_CHANNELS]
    if unknown:
        raise EmokdError(f"channels {unknown} are not in the {MONTAGE} montage")
    return ch_names


@functools.lru_cache(maxsize=8)
def electrode_positions(ch_names=EEG_CHANNELS) -> np.ndarray:
    """Positions of Biosemi-32 electrodes, shape (n_channels, 3), in m.

    In the montage's own frame: the centre of the 95 mm sphere at the origin,
    x to the right ear, y to the nose, z up (MNE's head frame, which
    :func:`eeg_info` uses, is the same sphere moved 40 mm up so that the
    fiducials lie at z = 0). Distances between electrodes are the same in both.
    Cached and read-only: every synthetic trial needs them.
    """
    ch_names = _check_channels(ch_names)
    pos = biosemi32().get_positions()["ch_pos"]
    out = np.array([pos[name] for name in ch_names])
    out.flags.writeable = False
    return out


def eeg_info(sfreq: float = 256.0, *, ch_names=EEG_CHANNELS):
    """An :class:`mne.Info` of EEG channels at their ``biosemi32`` positions.

    Parameters
    ----------
    sfreq : float
        Sampling rate, Hz (MAHNOB-HCI: 256).
    ch_names : sequence of str
        Names from :data:`~emokd.core.constants.EEG_CHANNELS`, in the order of the data.

    Returns
    -------
    info : mne.Info
        Channel type ``eeg``, positions in MNE's head frame.
    """
    import mne

    info = mne.create_info(list(_check_channels(ch_names)), float(sfreq), "eeg")
    info.set_montage(biosemi32())
    return info


def eeg_raw(eeg, sfreq: float, *, ch_names=EEG_CHANNELS, first_samp: int = 0):
    """An EEG array as an :class:`mne.io.RawArray` with the ``biosemi32`` montage.

    Parameters
    ----------
    eeg : ndarray, shape (n_channels, n_times), in V
        E.g. the prepared EEG of :func:`emokd.io.mahnob.read_eeg`.
    sfreq : float
        Sampling rate, Hz.
    ch_names : sequence of str, length n_channels
        Names from :data:`~emokd.core.constants.EEG_CHANNELS`, in the order of the rows.
    first_samp : int
        Sample of the first column in the recording it was cut from (MNE's
        ``first_samp``); 0 means time 0 is the first column.

    Returns
    -------
    raw : mne.io.RawArray
    """
    import mne

    eeg = np.asarray(eeg)
    if eeg.ndim != 2 or eeg.shape[0] != len(ch_names):
        raise EmokdError(f"eeg must have shape (n_channels={len(ch_names)}, n_times), got {eeg.shape}")
    return mne.io.RawArray(eeg, eeg_info(sfreq, ch_names=ch_names), first_samp=first_samp, verbose="error")


def channel_types(ch_names=BDF_CHANNELS) -> dict[str, str]:
    """MNE channel type of each channel of a MAHNOB-HCI BDF file: ``eeg`` for the 32 EEG
    channels, :data:`NON_EEG_TYPES` for the others, ``misc`` for any name unknown to both."""
    return {c: "eeg" if c in EEG_CHANNELS else NON_EEG_TYPES.get(c, "misc") for c in ch_names}
