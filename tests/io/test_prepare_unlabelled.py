"""Preparing the sessions without labels (``prepare --unlabelled``, issue 33 item 1 (a)): marked, never a
made-up label, off by default; found in the real database's layout by construction."""

import json
import shutil
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from emokd.core.fileio import sha256
from emokd.io import prepare as prep
from emokd.io.mahnob import (
    FRAMES_FILE,
    LABEL_FILE,
    UNLABELLED_LATENT_FILE,
    bdf_name,
    read_labels,
    read_latent,
    session_dir,
    stimulus_steps,
    unlabelled_sessions,
)
from emokd.training.folddata import load_trials
from emokd.training.runfolder import data_fingerprint


def test_without_the_option_the_prepared_folder_is_todays(smoke_unlabelled_dir, smoke_prepared, tmp_path):
    """Sessions without labels change nothing unless asked for: the same trial files, the same manifest
    (but for where it was prepared from), the same fingerprint of what a run reads."""
    out = tmp_path / "prepared"
    manifest = prep.prepare_dataset(smoke_unlabelled_dir, out, progress=False)
    today = json.loads((smoke_prepared[0] / prep.MANIFEST).read_text())
    here = json.loads((out / prep.MANIFEST).read_text())
    assert "unlabelled_sessions" not in manifest
    for m in (today, here):
        del m["source"]
    assert here == today
    assert data_fingerprint(out) == data_fingerprint(smoke_prepared[0])


def test_unlabelled_trials_are_marked_and_have_no_label(smoke_unlabelled_dir, smoke_unlabelled_prepared,
                                                        smoke_prepared, n_unlabelled):
    out, _ = smoke_unlabelled_prepared
    labels = read_labels(smoke_unlabelled_dir / LABEL_FILE)
    latent = read_latent(smoke_unlabelled_dir, UNLABELLED_LATENT_FILE)
    on_disk = json.loads((out / prep.MANIFEST).read_text())
    assert on_disk["finished"] and on_disk["n_expected"] == len(labels) + 3 * n_unlabelled
    assert on_disk["unlabelled_sessions"] == {"n": 3 * n_unlabelled, "left_out": {},
                                              "latent_file": UNLABELLED_LATENT_FILE}
    without = {k: e for k, e in on_disk["trials"].items() if not prep.is_labelled(e)}
    assert {(e["subject"], e["trial_no"]) for e in without.values()} == set(latent)
    # the labelled trials are prepared as without the option, byte for byte
    today = json.loads((smoke_prepared[0] / prep.MANIFEST).read_text())["trials"]
    assert {k: e["sha256"] for k, e in on_disk["trials"].items() if prep.is_labelled(e)} == \
        {k: e["sha256"] for k, e in today.items()}
    for entry in without.values():
        assert entry["labelled"] is False and "label_sha256" not in entry
        with np.load(out / entry["file"]) as npz:
            n = latent[(entry["subject"], entry["trial_no"])].size  # the stimulus, at 4 Hz
            assert np.isnan(npz["valence"]).all() and npz["valence"].shape == (n,)
            assert npz["eeg_bp"].shape == (n, 6, 32) and npz["frames"].shape == (n, 4, 48, 48)
            np.testing.assert_array_equal(npz["latent"], latent[(entry["subject"], entry["trial_no"])]
                                          .astype(np.float32))


def test_load_prepared_gives_them_only_when_asked(smoke_unlabelled_prepared, n_unlabelled):
    out, manifest = smoke_unlabelled_prepared
    assert len(prep.load_prepared(out, frames=False)) == 6
    everything = prep.load_prepared(out, frames=False, unlabelled=True)
    assert len(everything) == 6 + 3 * n_unlabelled
    assert sum(t.get("labelled", True) is False for t in everything) == 3 * n_unlabelled
    assert not any(np.isnan(t["valence"]).any() for t in everything if t.get("labelled", True))
    key = next(k for k, e in manifest["trials"].items() if not prep.is_labelled(e))
    assert prep.load_prepared(out, frames=False, keys=[key])[0]["labelled"] is False  # named: loaded
    assert set(load_trials(out, frames=False)) < set(load_trials(out, frames=False, unlabelled=True))


def test_preparing_again_keeps_every_trial(smoke_unlabelled_dir, smoke_unlabelled_prepared, tmp_path, n_unlabelled):
    out = tmp_path / "again"
    shutil.copytree(smoke_unlabelled_prepared[0], out)
    again = prep.prepare_dataset(smoke_unlabelled_dir, out, progress=False, unlabelled=True)
    assert again["n_skipped"] == 6 + 3 * n_unlabelled
    # and without the option the unlabelled trials leave the manifest (their files are not read)
    labelled = prep.prepare_dataset(smoke_unlabelled_dir, out, progress=False)
    assert labelled["n_skipped"] == 6 and all(prep.is_labelled(e) for e in labelled["trials"].values())


def test_a_session_without_a_face_is_no_pair(smoke_unlabelled_dir, tmp_path, n_unlabelled):
    root = tmp_path / "data"
    shutil.copytree(smoke_unlabelled_dir, root)
    subject, trial_no = min(read_latent(root, UNLABELLED_LATENT_FILE))
    (session_dir(root, subject, trial_no) / FRAMES_FILE).unlink()
    manifest = prep.prepare_dataset(root, tmp_path / "out", progress=False, unlabelled=True, faces="none")
    key = prep.trial_key(subject, trial_no)
    assert key not in manifest["trials"] and not manifest["failed"]
    assert "no pair" in manifest["unlabelled_sessions"]["left_out"][key]
    assert manifest["unlabelled_sessions"]["n"] == 3 * n_unlabelled - 1


def _session(root, subject, trial_no, *, bdf=None, is_stim="1"):
    folder = session_dir(root, subject, trial_no)
    folder.mkdir(parents=True)
    (folder / (bdf or bdf_name(subject, trial_no))).write_bytes(b"")
    ET.ElementTree(ET.Element("session", {"isStim": is_stim})).write(folder / "session.xml")


def test_unlabelled_sessions_in_the_real_layout(tmp_path):
    """Stimulus sessions (even ids, Part_<s>_S_Trial<k>_emotion.bdf) without a label row count; a neutral
    session, a labelled one, one without EEG or with isStim="0", and other folders do not."""
    _session(tmp_path, 1, 2)  # labelled
    _session(tmp_path, 1, 4)  # a stimulus session without labels
    _session(tmp_path, 1, 3, bdf="Part_1_N_Trial2_emotion.bdf")  # neutral (odd id)
    _session(tmp_path, 2, 10)  # another subject's: session 140
    _session(tmp_path, 2, 12, is_stim="0")
    _session(tmp_path, 3, 6, bdf="Part_3_S_Trial3_implicit.bdf")  # another experiment's recording
    session_dir(tmp_path, 4, 8).mkdir(parents=True)  # no EEG (as sessions 1854 and 1984)
    (tmp_path / "Sessions" / "notes").mkdir()
    assert unlabelled_sessions(tmp_path, {(1, 2): None}) == [(1, 4), (2, 10)]
    assert unlabelled_sessions(tmp_path / "nothing", {}) == []


def test_stimulus_steps():
    assert stimulus_steps(37.25) == 149 and stimulus_steps(37.2499) == 148 and stimulus_steps(0.1) == 0


def test_cli_help_names_the_option(capsys):
    from emokd.__main__ import build_parser

    with pytest.raises(SystemExit):
        build_parser().parse_args(["prepare", "--help"])
    assert "--unlabelled" in capsys.readouterr().out


def test_cli_prepares_them(smoke_unlabelled_dir, tmp_path, capsys, n_unlabelled):
    from emokd.__main__ import main

    assert main(["prepare", str(smoke_unlabelled_dir), "--out", str(tmp_path / "p"), "--unlabelled", "--quiet"]) == 0
    assert f"({3 * n_unlabelled} without labels)" in capsys.readouterr().out
    assert sha256(tmp_path / "p" / prep.MANIFEST)
