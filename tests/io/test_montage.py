"""emokd.io.montage: the one place that builds the Biosemi-32 montage, compared with MNE's own calls."""

from __future__ import annotations

import re
from pathlib import Path

import mne
import numpy as np
import pytest

from emokd.io import montage
from emokd.core.constants import BDF_CHANNELS, EEG_CHANNELS
from emokd.errors import EmokdError


def test_biosemi32_is_mnes_standard_montage():
    dig = montage.biosemi32()
    assert set(dig.ch_names) == set(EEG_CHANNELS)
    ref = mne.channels.make_standard_montage("biosemi32").get_positions()["ch_pos"]
    got = dig.get_positions()["ch_pos"]
    for ch in EEG_CHANNELS:
        np.testing.assert_array_equal(got[ch], ref[ch])
    assert montage.biosemi32() is not dig  # a fresh object: callers may modify theirs


def test_electrode_positions():
    pos = montage.electrode_positions()
    assert pos.shape == (32, 3) and not pos.flags.writeable
    ref = mne.channels.make_standard_montage("biosemi32").get_positions()["ch_pos"]
    np.testing.assert_array_equal(pos, [ref[ch] for ch in EEG_CHANNELS])
    np.testing.assert_allclose(np.linalg.norm(pos, axis=1), 0.095, rtol=1e-6)  # a sphere of 95 mm
    sub = montage.electrode_positions(("Cz", "Oz"))
    np.testing.assert_array_equal(sub, pos[[EEG_CHANNELS.index("Cz"), EEG_CHANNELS.index("Oz")]])


def test_eeg_info_matches_mne_by_name():
    info = montage.eeg_info(512.0)
    ref = mne.create_info(list(EEG_CHANNELS), 512.0, "eeg")
    ref.set_montage("biosemi32")  # MNE's own way, by the montage's name
    assert info["sfreq"] == 512.0 and info.ch_names == list(EEG_CHANNELS)
    assert set(info.get_channel_types()) == {"eeg"}
    np.testing.assert_array_equal([ch["loc"][:3] for ch in info["chs"]], [ch["loc"][:3] for ch in ref["chs"]])


def test_eeg_raw():
    eeg = np.random.default_rng(0).normal(0, 1e-5, (32, 512))
    raw = montage.eeg_raw(eeg, 256.0)
    np.testing.assert_array_equal(raw.get_data(), eeg)
    assert raw.get_montage() is not None and raw.info["sfreq"] == 256.0
    raw = montage.eeg_raw(eeg[:2], 256.0, ch_names=("O1", "O2"), first_samp=256)
    assert raw.first_samp == 256 and raw.ch_names == ["O1", "O2"]
    with pytest.raises(EmokdError, match=re.escape("eeg must have shape (n_channels=32, n_times), got (3, 512)")):
        montage.eeg_raw(eeg[:3], 256.0)
    with pytest.raises(EmokdError, match=re.escape("channels ['T3'] are not in the biosemi32 montage")):
        montage.eeg_info(ch_names=("Cz", "T3"))


def test_channel_types_of_the_bdf_layout():
    types = montage.channel_types()
    assert list(types) == list(BDF_CHANNELS)
    assert [types[ch] for ch in EEG_CHANNELS] == ["eeg"] * 32
    assert {ch: types[ch] for ch in BDF_CHANNELS[32:]} == {
        "EXG1": "ecg", "EXG2": "ecg", "EXG3": "ecg", "EXG4": "misc", "EXG5": "misc", "EXG6": "misc",
        "EXG7": "misc", "EXG8": "misc", "GSR1": "gsr", "GSR2": "gsr", "Erg1": "misc", "Erg2": "misc",
        "Resp": "resp", "Temp": "temperature", "Status": "stim"}  # fmt: skip
    assert montage.channel_types(["Cz", "Unknown"]) == {"Cz": "eeg", "Unknown": "misc"}
    info = mne.create_info(list(BDF_CHANNELS), 256.0)
    info.set_channel_types(types, on_unit_change="ignore")  # every type is one MNE knows
    assert info.get_channel_types() == [types[ch] for ch in BDF_CHANNELS]


def test_one_place_builds_the_montage():
    """Only emokd/io/montage.py names MNE's montage: the rest of the package asks it."""
    package = Path(montage.__file__).parents[1]
    others = [p.name for p in package.rglob("*.py") if p.name != "montage.py"
              and re.search(r"make_standard_montage|create_info|[\"']biosemi32[\"']", p.read_text())]
    assert others == []
