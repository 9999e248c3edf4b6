"""The MAHNOB-HCI reader: synthetic sessions, sessions written by an independent BDF
writer (edfio) in the real 47-channel layout, and every bad-input case."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET

import edfio
import mne
import numpy as np
import pytest
import scipy.io
from scipy.integrate import simpson
from scipy.signal import welch

from emokd.io.bdf import BIOSEMI_UV, check_bdf_header, write_bdf
from emokd.core.constants import BDF_CHANNELS, EEG_CHANNELS
from emokd.core.config import PrepareConfig
from emokd.errors import EmokdError
from emokd.io.mahnob import (STIMULUS_END, STIMULUS_START, check_eeg, find_stimulus, read_eeg, read_labels, read_raw,
                          read_trial, session_bdf, session_dir, stimulus_samples)

SFREQ = 256


# --- an independent writer: edfio BDF + hand-made session.xml + savemat labels ---------

def edfio_session(root, subject=1, trial_no=2, *, stim_s=(30.0, 70.0), total_s=100, sfreq=SFREQ,
                  n_label_steps=None, eeg=None, status_edges=None, seed=0):
    """Write one session in the MAHNOB-HCI layout without using emokd's writer.

    EEG: noise plus a 10 Hz sine at O1/O2/Oz and a 35 Hz sine at Fp1 (uV).
    Returns the label trace written for the trial.
    """
    rng = np.random.default_rng(seed)
    n = int(total_s * sfreq)
    t = np.arange(n) / sfreq
    if eeg is None:
        eeg = rng.normal(0, 5.0, (32, n))
        for ch in ("O1", "O2", "Oz"):
            eeg[EEG_CHANNELS.index(ch)] += 40 * np.sin(2 * np.pi * 10 * t)
        eeg[EEG_CHANNELS.index("Fp1")] += 40 * np.sin(2 * np.pi * 35 * t)
    status = np.zeros(n)
    edges = status_edges if status_edges is not None else [int(s * sfreq) for s in stim_s]
    for e in edges:
        status[e : e + 25] = 255
    signals = [edfio.BdfSignal(eeg[i], sfreq, label=name, physical_dimension="uV", physical_range=BIOSEMI_UV)
               for i, name in enumerate(EEG_CHANNELS)]
    signals += [edfio.BdfSignal(rng.normal(0, 10, n), sfreq, label=name, physical_dimension="uV",
                                physical_range=BIOSEMI_UV) for name in BDF_CHANNELS[32:46]]
    signals.append(edfio.BdfSignal(status, sfreq, label="Status", physical_dimension="Boolean",
                                   physical_range=(-8388608, 8388607)))
    folder = session_dir(root, subject, trial_no)
    folder.mkdir(parents=True, exist_ok=True)
    edfio.Bdf(signals).write(folder / f"Part_{subject}_S_Trial{trial_no // 2}_emotion.bdf")
    xml = ET.Element("session", {"cutNr": "3", "cutLenSec": f"{stim_s[1] - stim_s[0]:.2f}", "feltVlnc": "6",
                                 "feltArsl": "4", "vidRate": "60", "isStim": "1"})
    ET.SubElement(xml, "subject", {"id": str(subject)})
    ET.ElementTree(xml).write(folder / "session.xml")
    steps = n_label_steps or int((stim_s[1] - stim_s[0]) * 4)
    return np.linspace(0, 0.2, steps)


def write_labels(root, traces: dict):
    cells = np.empty((len(traces), 1), dtype=object)
    for i, v in enumerate(traces.values()):
        cells[i, 0] = np.asarray(v, dtype=np.float64)[None, :]
    scipy.io.savemat(root / "lable_continous_Mahnob.mat",
                     {"trials_included": np.array(list(traces), dtype=np.uint8), "labels": cells})


# --- the reader on synthetic data -----------------------------------------------------

def test_read_trial_on_synthetic(smoke_dir):
    truth = json.loads((smoke_dir / "ground_truth.json").read_text())
    labels = read_labels(smoke_dir / "lable_continous_Mahnob.mat")
    assert list(labels) == [(t["subject"], t["trial_no"]) for t in truth["trials"]]
    (subject, trial_no), valence = next(iter(labels.items()))
    trial = read_trial(smoke_dir, subject, trial_no, valence)
    n = valence.size
    assert trial["eeg_bp"].shape == (n, 6, 32) and trial["eeg_bp"].dtype == np.float32
    assert trial["frames"].shape == (n, 4, 48, 48) and trial["frames"].dtype == np.uint8
    np.testing.assert_array_equal(trial["valence"], valence.astype(np.float32))
    assert trial["info"]["stimulus_samples"] == (30 * SFREQ, 30 * SFREQ + n * SFREQ // 4)
    bp = trial["eeg_bp"]
    assert np.all((bp > 0) & (bp < 1))
    # The bands share their edge bins (4, 8, 12, 18, 30 Hz), so the sum may exceed 1 a
    # little; it is often well below 1 because the 0-1 Hz interval (strong in 1/f EEG
    # with blinks) counts in the denominator but lies in no band (the first bin of
    # 0.3-4 Hz is 1 Hz): that is the paper's definition.
    assert bp.sum(axis=1).max() < 1.1
    # frames of step k are the stored frames 4k..4k+3 (aligned from stimulus start)
    with np.load(session_dir(smoke_dir, subject, trial_no) / "face_frames.npz") as npz:
        np.testing.assert_array_equal(trial["frames"][5], npz["frames"][20:24])


def test_read_eeg_matches_mne_pipeline(smoke_dir):
    """read_eeg equals the same steps done by hand with MNE's Raw methods."""
    bdf = next((smoke_dir / "Sessions").rglob("*.bdf"))
    eeg, info = read_eeg(bdf)
    start, end = info["stimulus_samples"]
    raw = mne.io.read_raw_bdf(bdf, preload=True, verbose="error").pick(list(EEG_CHANNELS))
    raw.crop((start - SFREQ) / SFREQ, (end + 5 * SFREQ - 1) / SFREQ)
    raw.filter(0.3, 45.0, verbose="error").set_eeg_reference("average", verbose="error")
    ref = raw.get_data()
    assert eeg.shape == ref.shape == (32, end - start + 6 * SFREQ)
    np.testing.assert_allclose(eeg, ref, atol=1e-9 * np.abs(ref).max())


def test_independent_bdf_writer(tmp_path):
    valence = edfio_session(tmp_path, subject=3, trial_no=8)
    write_labels(tmp_path, {(3, 8): valence})
    labels = read_labels(tmp_path / "lable_continous_Mahnob.mat")
    trial = read_trial(tmp_path, 3, 8, labels[(3, 8)])
    assert trial["frames"] is None
    assert trial["info"]["stimulus_samples"] == (30 * SFREQ, 70 * SFREQ)
    bp = trial["eeg_bp"]
    assert bp.shape == (160, 6, 32)
    argmax = bp.mean(axis=0).argmax(axis=0)  # dominant band per channel
    for ch in ("O1", "O2", "Oz"):
        assert argmax[EEG_CHANNELS.index(ch)] == 2  # 10 Hz -> alpha
    assert argmax[EEG_CHANNELS.index("Fp1")] == 5  # 35 Hz -> gamma
    # the first window is centred on stimulus start: compare with scipy on the same EEG
    eeg, _ = read_eeg(next(session_dir(tmp_path, 3, 8).glob("*.bdf")))
    freqs, psd = welch(eeg[:, :512], SFREQ, nperseg=256)
    sel = (freqs >= 8) & (freqs <= 12)
    expected = simpson(psd[:, sel], x=freqs[sel]) / simpson(psd, x=freqs)
    np.testing.assert_allclose(bp[0, 2], expected, rtol=1e-5)


def test_our_writer_roundtrip_through_mne(tmp_path):
    rng = np.random.default_rng(1)
    data = rng.normal(0, 50, (3, 4 * SFREQ))
    path = write_bdf(tmp_path / "x.bdf", data, ch_names=["A", "B", "C"], sfreq=SFREQ, units=["uV"] * 3,
                     physical_ranges=[BIOSEMI_UV] * 3)
    raw = mne.io.read_raw_bdf(path, preload=True, verbose="error")
    resolution_uv = (BIOSEMI_UV[1] - BIOSEMI_UV[0]) / (2**24 - 1)
    np.testing.assert_allclose(raw.get_data() * 1e6, data, atol=resolution_uv)
    edf = edfio.read_bdf(path)  # and an independent reader agrees
    np.testing.assert_allclose(edf.signals[1].data, data[1], atol=resolution_uv)
    assert check_bdf_header(path)["n_records"] == 4
    assert not list(tmp_path.glob("*.tmp"))


# --- read_raw: the session as an MNE Raw ----------------------------------------------

def test_read_raw_on_synthetic(smoke_dir):
    """Types, montage, and stimulus annotations that agree with mne.find_events on the same file."""
    folder = next((smoke_dir / "Sessions").iterdir())
    raw = read_raw(folder)
    assert raw.ch_names == list(BDF_CHANNELS) and raw.info["sfreq"] == SFREQ
    types = dict(zip(raw.ch_names, raw.get_channel_types()))
    assert [types[ch] for ch in EEG_CHANNELS] == ["eeg"] * 32
    assert [types[ch] for ch in ("EXG1", "GSR1", "Resp", "Temp", "Status")] == ["ecg", "gsr", "resp",
                                                                               "temperature", "stim"]
    assert set(raw.get_montage().ch_names) == set(EEG_CHANNELS)
    ref = mne.io.read_raw_bdf(session_bdf(folder), verbose="error")
    ref.set_montage("biosemi32", on_missing="ignore")  # MNE's own way, by the montage's name
    picks = [raw.ch_names.index(ch) for ch in EEG_CHANNELS]
    np.testing.assert_array_equal([raw.info["chs"][i]["loc"][:3] for i in picks],
                                  [ref.info["chs"][i]["loc"][:3] for i in picks])

    events = mne.find_events(mne.io.read_raw_bdf(session_bdf(folder), verbose="error"), stim_channel="Status",
                             verbose="error")  # MNE alone, on the same file
    assert events.shape == (2, 3)
    assert list(raw.annotations.description) == [STIMULUS_START, STIMULUS_END]
    np.testing.assert_array_equal(raw.time_as_index(raw.annotations.onset, use_rounding=True), events[:, 0])
    from_annotations, _ = mne.events_from_annotations(raw, verbose="error")
    np.testing.assert_array_equal(from_annotations[:, 0], events[:, 0])
    assert stimulus_samples(raw) == tuple(events[:, 0]) == read_eeg(session_bdf(folder))[1]["stimulus_samples"]
    # the EEG is what MNE reads from the file, untouched
    np.testing.assert_array_equal(raw.get_data(picks=list(EEG_CHANNELS), stop=SFREQ),
                                  mne.io.read_raw_bdf(session_bdf(folder), verbose="error")
                                  .get_data(picks=list(EEG_CHANNELS), stop=SFREQ))


def test_read_raw_independent_file(tmp_path):
    """An edfio-written session (Status 255): the folder or the file, preloaded or not, cropped or not."""
    edfio_session(tmp_path, 3, 8, stim_s=(31.0, 64.5))
    folder = session_dir(tmp_path, 3, 8)
    raw = read_raw(folder, preload=True)
    events = mne.find_events(raw, stim_channel="Status", verbose="error")
    np.testing.assert_array_equal(events[:, 0], [31 * SFREQ, int(64.5 * SFREQ)])
    assert stimulus_samples(raw) == tuple(events[:, 0])
    assert stimulus_samples(read_raw(session_bdf(folder))) == tuple(events[:, 0])
    cropped = raw.copy().crop(10.0, 90.0)  # events count from the file's start, so do the annotations
    assert stimulus_samples(cropped) == tuple(mne.find_events(cropped, stim_channel="Status", verbose="error")[:, 0])
    with pytest.raises(EmokdError, match="expected one 'stimulus/start' and one 'stimulus/end' annotation, "
                                         "found 0 and 1"):
        stimulus_samples(raw.copy().crop(40.0, 90.0))


def test_read_raw_without_two_edges(tmp_path):
    edfio_session(tmp_path, status_edges=[30 * SFREQ, 50 * SFREQ, 70 * SFREQ])
    folder = session_dir(tmp_path, 1, 2)
    with pytest.raises(EmokdError, match="Status channel has 3 rising edges"):
        read_raw(folder)
    raw = read_raw(folder, stimulus=False)  # the recording itself, without annotations
    assert len(raw.annotations) == 0 and raw.get_channel_types(picks="Status") == ["stim"]
    assert len(mne.find_events(raw, stim_channel="Status", verbose="error")) == 3


def test_read_raw_bad_session(tmp_path, session):
    root, _, bdf = session
    with pytest.raises(EmokdError, match="no such session folder or BDF file"):
        read_raw(tmp_path / "nowhere")
    (bdf.parent / "Part_1_N_Trial1_emotion.bdf").write_bytes(bdf.read_bytes())
    with pytest.raises(EmokdError, match=r"expected one BDF file in the session folder, found \['Part_1_N"):
        read_raw(bdf.parent)
    data = bytearray(bdf.read_bytes())
    data[256 + 16 * 23 : 256 + 16 * 24] = b"Zz".ljust(16)  # rename Cz
    bdf.write_bytes(bytes(data))
    with pytest.raises(EmokdError, match=r"channel\(s\) \['Cz'\] missing"):
        read_raw(bdf)


# --- bad input ------------------------------------------------------------------------

@pytest.fixture
def session(tmp_path):
    """A good edfio-written session plus its label file; tests then damage it."""
    valence = edfio_session(tmp_path)
    write_labels(tmp_path, {(1, 2): valence})
    return tmp_path, valence, next(session_dir(tmp_path, 1, 2).glob("*.bdf"))


def test_truncated_bdf(session):
    root, valence, bdf = session
    data = bdf.read_bytes()
    bdf.write_bytes(data[: len(data) - 1000])
    with pytest.raises(EmokdError, match=rf"{bdf.name}: truncated or corrupt: the header declares"):
        read_trial(root, 1, 2, valence)


def test_corrupt_bdf_header(session):
    root, valence, bdf = session
    data = bytearray(bdf.read_bytes())
    data[236:244] = b"abcdefgh"  # number of records
    bdf.write_bytes(bytes(data))
    with pytest.raises(EmokdError, match=rf"{bdf.name}: corrupt BDF header"):
        read_trial(root, 1, 2, valence)
    bdf.write_bytes(b"not a bdf file at all" * 20)
    with pytest.raises(EmokdError, match="not a BDF/EDF file"):
        read_trial(root, 1, 2, valence)


@pytest.mark.parametrize("edges", [[30 * SFREQ], [30 * SFREQ, 50 * SFREQ, 70 * SFREQ], []])
def test_status_without_two_edges(tmp_path, edges):
    valence = edfio_session(tmp_path, status_edges=edges)
    with pytest.raises(EmokdError, match=rf"Status channel has {len(edges)} rising edges"):
        read_trial(tmp_path, 1, 2, valence)


def test_find_stimulus_masks_system_bits():
    status = np.full(1000, 1 << 20)  # Biosemi system status bits, always on
    status[100:110] += 1
    status[600:610] += 1
    assert find_stimulus(status) == (100, 600)


def test_missing_session_xml(session):
    root, valence, bdf = session
    (bdf.parent / "session.xml").unlink()
    with pytest.raises(EmokdError, match=r"session.xml: session.xml not found"):
        read_trial(root, 1, 2, valence)


def test_missing_session_folder_and_label_row(session):
    root, valence, _ = session
    with pytest.raises(EmokdError, match="session folder of subject 1 trial 4 not found"):
        read_trial(root, 1, 4, valence)
    edfio_session(root, 1, 4)  # a session that exists but has no label row
    with pytest.raises(EmokdError, match=r"lable_continous_Mahnob.mat: no row for subject 1 trial 4"):
        read_trial(root, 1, 4)  # labels looked up in the label file
    assert read_trial(root, 1, 2)["valence"].size == valence.size


def test_bad_label_file(tmp_path):
    scipy.io.savemat(tmp_path / "lable_continous_Mahnob.mat", {"trials_included": np.ones((2, 2), np.uint8)})
    with pytest.raises(EmokdError, match="field 'labels' is missing"):
        read_labels(tmp_path / "lable_continous_Mahnob.mat")
    (tmp_path / "broken.mat").write_bytes(b"garbage")
    with pytest.raises(EmokdError, match="broken.mat: not a readable MATLAB file"):
        read_labels(tmp_path / "broken.mat")


def test_eeg_shorter_than_labels(tmp_path):
    # stimulus 40 s (+1 s before, +5 s after) cannot cover a 60 s label trace
    valence = edfio_session(tmp_path, n_label_steps=240)
    with pytest.raises(EmokdError, match="EEG shorter than its labels"):
        read_trial(tmp_path, 1, 2, valence)


def test_recording_too_short_after_stimulus(tmp_path):
    valence = edfio_session(tmp_path, stim_s=(30.0, 98.0))
    with pytest.raises(EmokdError, match="does not hold 1 s before the stimulus start"):
        read_trial(tmp_path, 1, 2, valence)


def test_flat_channel(tmp_path):
    eeg = np.random.default_rng(0).normal(0, 5.0, (32, 100 * SFREQ))
    eeg[EEG_CHANNELS.index("Cz")] = 0.0
    valence = edfio_session(tmp_path, eeg=eeg)
    with pytest.raises(EmokdError, match=r"EEG channel\(s\) \['Cz'\] are flat"):
        read_trial(tmp_path, 1, 2, valence)


def test_nan_eeg():
    eeg = np.random.default_rng(0).normal(0, 1e-5, (32, 1000))
    eeg[3, 10] = np.nan
    with pytest.raises(EmokdError, match=r"x.bdf: EEG channel\(s\) \['F7'\] hold NaN"):
        check_eeg(eeg, source="x.bdf")


def test_wrong_sampling_rate(tmp_path):
    valence = edfio_session(tmp_path, sfreq=512)
    with pytest.raises(EmokdError, match="sampling rate 512 Hz, expected 256 Hz"):
        read_trial(tmp_path, 1, 2, valence)


def test_missing_eeg_channel(tmp_path, session):
    root, valence, bdf = session
    data = bytearray(bdf.read_bytes())
    data[256 + 16 * 23 : 256 + 16 * 24] = b"Zz".ljust(16)  # rename Cz
    bdf.write_bytes(bytes(data))
    with pytest.raises(EmokdError, match=r"channel\(s\) \['Cz'\] missing"):
        read_trial(root, 1, 2, valence)


def test_bad_frames_file(smoke_copy):
    labels = read_labels(smoke_copy / "lable_continous_Mahnob.mat")
    (subject, trial_no), valence = next(iter(labels.items()))
    frames_path = session_dir(smoke_copy, subject, trial_no) / "face_frames.npz"
    with np.load(frames_path) as npz:
        frames = npz["frames"]
    np.savez(frames_path, frames=frames[:100], fps=16.0)
    with pytest.raises(EmokdError, match="face_frames.npz: 100 frames cover 6.25 s, shorter than"):
        read_trial(smoke_copy, subject, trial_no, valence)
    np.savez(frames_path, frames=frames, fps=10.0)
    with pytest.raises(EmokdError, match="field 'fps' = 10 is not a whole multiple"):
        read_trial(smoke_copy, subject, trial_no, valence)
    np.savez(frames_path, pictures=frames)
    with pytest.raises(EmokdError, match=r"field\(s\) \['frames', 'fps'\] missing"):
        read_trial(smoke_copy, subject, trial_no, valence)


def test_frames_subsampled_by_config(smoke_dir):
    labels = read_labels(smoke_dir / "lable_continous_Mahnob.mat")
    (subject, trial_no), valence = next(iter(labels.items()))
    full = read_trial(smoke_dir, subject, trial_no, valence)["frames"]
    two = read_trial(smoke_dir, subject, trial_no, valence, PrepareConfig(frames_per_step=2))["frames"]
    np.testing.assert_array_equal(two, full[:, ::2])


def _patch_header_field(bdf, field_offset: int, channel: str, text: bytes):
    """Overwrite one 8-byte per-signal header field (offset in units of n_signals, as in the EDF spec)."""
    data = bytearray(bdf.read_bytes())
    n = int(data[252:256].decode())
    i = BDF_CHANNELS.index(channel)
    start = 256 + field_offset * n + 8 * i
    data[start:start + 8] = text.ljust(8)
    bdf.write_bytes(bytes(data))


@pytest.mark.parametrize("field_offset, copy_from, name", [(112, 104, "physical"), (128, 120, "digital")])
def test_zero_width_range_in_bdf_header(session, field_offset, copy_from, name):
    """phys_min = phys_max (or dig_min = dig_max): MNE reads kV without an error; emokd refuses the file."""
    root, valence, bdf = session
    data = bdf.read_bytes()
    n = int(data[252:256].decode())
    i = BDF_CHANNELS.index("Cz")
    low = data[256 + copy_from * n + 8 * i: 256 + copy_from * n + 8 * (i + 1)]
    _patch_header_field(bdf, field_offset, "Cz", low)
    with pytest.raises(EmokdError, match=re.escape(f"{bdf.name}: channel Cz: header field '{name} minimum' = "
                                                   f"'{name} maximum' = {float(low):g}, a range of zero width")):
        read_trial(root, 1, 2, valence)


def test_implausible_eeg_amplitude(session):
    """A physical range of +-9.9e12 uV for a 24-bit channel scales the EEG far beyond any amplifier: refused."""
    root, valence, bdf = session
    _patch_header_field(bdf, 104, "Pz", b"-9.9e+12")
    _patch_header_field(bdf, 112, "Pz", b"9.9e+12")
    with pytest.raises(EmokdError, match=rf"{bdf.name}: EEG channel\(s\) Pz \(\d.* V\) exceed 1 V"):
        read_trial(root, 1, 2, valence)


@pytest.mark.parametrize("value", [1e30, -3.0])
def test_labels_outside_the_valence_scale(tmp_path, value):
    trace = np.linspace(0, 0.2, 40)
    trace[7] = value
    write_labels(tmp_path, {(1, 2): np.linspace(0, 0.1, 40), (3, 4): trace})
    with pytest.raises(EmokdError, match=re.escape(f"lable_continous_Mahnob.mat: field 'labels', trace of subject 3 "
                                                   f"trial 4 reaches {value:g}, outside the valence scale [-1, 1]")):
        read_labels(tmp_path / "lable_continous_Mahnob.mat")


# --- hostile inputs (issue 31, item 4) ----------------------------------------------------

def _one_trial(root):
    labels = read_labels(root / "lable_continous_Mahnob.mat")
    (subject, trial_no), valence = next(iter(labels.items()))
    return subject, trial_no, valence


def test_label_cell_of_two_columns_is_refused(tmp_path):
    """A (T, 2) cell used to be flattened into 2T steps, every value twice."""
    cells = np.empty((1, 1), dtype=object)
    cells[0, 0] = np.zeros((150, 2))
    scipy.io.savemat(tmp_path / "lable_continous_Mahnob.mat", {"trials_included": np.array([[1, 2]]), "labels": cells})
    with pytest.raises(EmokdError, match=r"lable_continous_Mahnob.mat: field 'labels', trace of subject 1 trial 2 "
                                         r"has shape \(150, 2\), expected one row or column"):
        read_labels(tmp_path / "lable_continous_Mahnob.mat")


@pytest.mark.parametrize("cell, what", [(np.full((1, 5), 0.1 + 0.2j), "complex numbers"),
                                        (np.ones((1, 5), bool), "booleans"),
                                        ("happy", "text"),
                                        (np.array([[np.zeros((1, 5))]], dtype=object), "a nested cell")])
def test_label_cell_that_is_not_real_numbers_is_refused(tmp_path, cell, what):
    """Complex and boolean cells used to be cast; text and nested cells ended in a traceback."""
    cells = np.empty((1, 1), dtype=object)
    cells[0, 0] = cell
    scipy.io.savemat(tmp_path / "lable_continous_Mahnob.mat", {"trials_included": np.array([[1, 2]]), "labels": cells})
    with pytest.raises(EmokdError, match=f"field 'labels', trace of subject 1 trial 2 holds {what} .*expected real"):
        read_labels(tmp_path / "lable_continous_Mahnob.mat")


@pytest.mark.parametrize("bad", [10.7, 0.0, np.nan])
def test_trials_included_that_are_not_whole_numbers_are_refused(tmp_path, bad):
    """10.7 used to be read as trial 10."""
    cells = np.empty((1, 1), dtype=object)
    cells[0, 0] = np.zeros((1, 5))
    scipy.io.savemat(tmp_path / "lable_continous_Mahnob.mat",
                     {"trials_included": np.array([[1.0, bad]]), "labels": cells})
    with pytest.raises(EmokdError, match=f"field 'trials_included' holds {bad}.*expected whole numbers"):
        read_labels(tmp_path / "lable_continous_Mahnob.mat")


def test_frames_with_a_wrong_fps_are_refused(smoke_copy):
    """fps 8 declared for 16-fps frames used to stretch the video 2x against the labels."""
    subject, trial_no, valence = _one_trial(smoke_copy)
    frames_path = session_dir(smoke_copy, subject, trial_no) / "face_frames.npz"
    with np.load(frames_path) as npz:
        frames = npz["frames"]
    n = len(frames)
    np.savez(frames_path, frames=frames, fps=8.0)
    with pytest.raises(EmokdError, match=rf"face_frames.npz: field 'fps' = 8 makes its {n} frames last "
                                         rf"{n / 8:.2f} s, but the stimulus lasts {n / 16:.2f} s"):
        read_trial(smoke_copy, subject, trial_no, valence)


@pytest.mark.parametrize("fps", [np.nan, np.inf])
def test_frames_with_a_fps_that_is_not_finite_are_refused(smoke_copy, fps):
    """fps nan or inf used to end in a traceback (int(nan))."""
    subject, trial_no, valence = _one_trial(smoke_copy)
    frames_path = session_dir(smoke_copy, subject, trial_no) / "face_frames.npz"
    with np.load(frames_path) as npz:
        frames = npz["frames"]
    np.savez(frames_path, frames=frames, fps=fps)
    with pytest.raises(EmokdError, match=f"face_frames.npz: field 'fps' = {fps:g} is not a whole multiple"):
        read_trial(smoke_copy, subject, trial_no, valence)


def test_small_frames_are_refused_naming_the_file(smoke_copy):
    """32 x 32 frames used to pass `prepare` and be refused by the run, naming no file."""
    subject, trial_no, valence = _one_trial(smoke_copy)
    frames_path = session_dir(smoke_copy, subject, trial_no) / "face_frames.npz"
    with np.load(frames_path) as npz:
        frames, fps = npz["frames"], npz["fps"]
    np.savez(frames_path, frames=np.ascontiguousarray(frames[:, :32, :32]), fps=fps)
    with pytest.raises(EmokdError, match=f"{frames_path}: field 'frames' holds 32 x 32 px frames, expected 48 x 48"):
        read_trial(smoke_copy, subject, trial_no, valence)


def test_session_id_of_another_session_is_refused(smoke_copy):
    subject, trial_no, valence = _one_trial(smoke_copy)
    xml_path = session_dir(smoke_copy, subject, trial_no) / "session.xml"
    tree = ET.parse(xml_path)
    tree.getroot().set("sessionId", "999")
    tree.write(xml_path)
    with pytest.raises(EmokdError, match=f"{xml_path}: field 'sessionId' is '999', but it is in session folder "
                                         f"'{session_dir(smoke_copy, subject, trial_no).name}'"):
        read_trial(smoke_copy, subject, trial_no, valence)


def _noise_eeg(total_s=100, seed=0):
    eeg = np.random.default_rng(seed).normal(0, 5.0, (32, total_s * SFREQ))  # uV
    return eeg


def test_random_bytes_at_the_rail_are_refused(tmp_path):
    """3 channels of random values over the whole Biosemi range for 6 s used to pass the EEG check."""
    eeg = _noise_eeg()
    eeg[:3, 40 * SFREQ:46 * SFREQ] = np.random.default_rng(1).uniform(*BIOSEMI_UV, (3, 6 * SFREQ))
    valence = edfio_session(tmp_path, eeg=eeg)
    with pytest.raises(EmokdError, match=r"\.bdf: EEG channel\(s\) \['Fp1', 'AF3', 'F3'\] jump by 0.05 V or more "
                                         r"between samples .* between 40.00 s and 46.00 s of the recording"):
        read_trial(tmp_path, 1, 2, valence)


def test_flat_dropout_is_refused(tmp_path):
    """A 6 s flat dropout of every channel used to pass the EEG check."""
    eeg = _noise_eeg()
    eeg[:, 40 * SFREQ:46 * SFREQ] = 0.0
    valence = edfio_session(tmp_path, eeg=eeg)
    with pytest.raises(EmokdError, match=r"\.bdf: EEG channel\(s\) \['Fp1', .*'O2'\] are flat .* for 1 s or more "
                                         r"\(a dropout\) between 40.00 s and 46.00 s of the recording"):
        read_trial(tmp_path, 1, 2, valence)
    eeg = _noise_eeg()
    eeg[:, 40 * SFREQ:int(40.5 * SFREQ)] = 0.0  # half a second: not flagged
    valence = edfio_session(tmp_path, eeg=eeg)
    assert read_trial(tmp_path, 1, 2, valence)["eeg_bp"].shape[0] == valence.size


def test_colour_frames_are_read_as_grey(tmp_path):
    """face_frames.npz made from the camera holds RGB crops: the teachers get their BT.601 luma."""
    from emokd.io.mahnob import read_frames, to_grey

    rgb = np.random.default_rng(0).integers(0, 256, (64, 48, 48, 3), dtype=np.uint8)
    np.savez(tmp_path / "face_frames.npz", frames=rgb, fps=64.0)
    grey = read_frames(tmp_path / "face_frames.npz", 4)
    expected = np.rint(rgb.astype(np.float64) @ [0.299, 0.587, 0.114]).reshape(4, 16, 48, 48)
    assert grey.dtype == np.uint8 and grey.shape == (4, 16, 48, 48)
    assert np.abs(grey.astype(int) - expected).max() <= 1
    np.testing.assert_array_equal(to_grey(rgb[..., :1].repeat(3, axis=-1)), rgb[..., 0])  # grey in, same grey out
    np.savez(tmp_path / "four.npz", frames=np.zeros((64, 48, 48, 4), np.uint8), fps=64.0)
    with pytest.raises(EmokdError, match=r"expected uint8 \(n, height, width\) or \(n, height, width, 3\)"):
        read_frames(tmp_path / "four.npz", 4)


@pytest.mark.parametrize("session, subject", [(1854, 15), (1984, 16)])
def test_sessions_released_without_eeg_are_named(tmp_path, session, subject):
    from emokd.io.mahnob import find_bdf

    folder = session_dir(tmp_path, subject, 34)
    assert folder.name == str(session)
    folder.mkdir(parents=True)
    with pytest.raises(EmokdError, match=rf"{session}: no EEG recording \(Part_{subject}_S_Trial17_emotion.bdf\): "
                                         rf"session {session} is one of the database's sessions released without EEG"):
        find_bdf(folder, subject, 34)
