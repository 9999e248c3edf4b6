"""Synthetic sessions without labels (``unlabelled_per_subject``, issue 33 item 1 (a)): their own random
stream, no label row, the latent apart; with none, the data set of before."""

import dataclasses
import json
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from emokd.core.config import SynthConfig, synth_config
from emokd.core.fileio import sha256
from emokd.errors import EmokdError
from emokd.io.mahnob import (
    LABEL_FILE,
    UNLABELLED_LATENT_FILE,
    read_labels,
    read_latent,
)
from emokd.synth.synthetic import TRUTH_FILE, ensure_generated, plan


def _hashes(folder):
    return {str(p.relative_to(folder)): sha256(p) for p in sorted(folder.rglob("*")) if p.is_file()}


def test_zero_is_the_field_absent():
    """At 0 the configuration's JSON is the one an emokd without the field wrote, so ensure_generated
    keeps every data set generated before it."""
    default, zero = synth_config("smoke"), synth_config("smoke", unlabelled_per_subject=0)
    assert zero == default and "unlabelled_per_subject" not in default.to_json()
    assert synth_config("smoke", unlabelled_per_subject=2).to_json()["unlabelled_per_subject"] == 2
    assert SynthConfig.ADDED_LATER == {"unlabelled_per_subject": 0}


def test_ensure_generated_keeps_a_dataset_of_zero(smoke_dir, monkeypatch):
    from emokd.synth import synthetic

    monkeypatch.setattr(synthetic, "generate", lambda *a, **k: pytest.fail("generated again"))
    truth = ensure_generated(smoke_dir, synth_config("smoke", unlabelled_per_subject=0), seed=0)
    assert "unlabelled_trials" not in truth


@pytest.mark.parametrize("bad", [-1, 1.5, True, "2", 19])
def test_bad_values_are_one_line_errors(bad):
    with pytest.raises(EmokdError, match=f"unlabelled_per_subject={bad!r}") as err:
        synth_config("smoke", unlabelled_per_subject=bad)  # 19: 2 labelled + 19 > 20 positions
    assert "\n" not in str(err.value)


def test_room_is_counted_against_the_clips():
    with pytest.raises(EmokdError, match="n_clips=4"):
        dataclasses.replace(synth_config("smoke"), n_clips=4, unlabelled_per_subject=3)
    assert dataclasses.replace(synth_config("smoke"), n_clips=4, unlabelled_per_subject=2).n_trials == 6


def test_plan_of_the_labelled_trials_does_not_change():
    """The extra trials come from their own stream after everything else: every labelled trial's draw
    (seed, position, clip, latent, label) is the same, and so are the subjects and clips."""
    before, after = plan(synth_config("smoke"), seed=3), plan(synth_config("smoke", unlabelled_per_subject=5), seed=3)
    assert before["unlabelled_trials"] == [] and len(after["unlabelled_trials"]) == 5 * 3
    assert before["subjects"] == after["subjects"]
    np.testing.assert_array_equal(before["weights"], after["weights"])
    for a, b in zip(before["trials"], after["trials"], strict=True):
        assert {k: v for k, v in a.items() if k not in ("valence", "label")} == \
            {k: v for k, v in b.items() if k not in ("valence", "label")}
        assert a["valence"].tobytes() == b["valence"].tobytes() and a["label"].tobytes() == b["label"].tobytes()
    for subject in (1, 2, 3):  # each subject sees a clip once, at one position
        mine = [t for t in after["trials"] + after["unlabelled_trials"] if t["subject"] == subject]
        assert len({t["clip"] for t in mine}) == len({t["trial_no"] for t in mine}) == len(mine) == 7
        assert all(t["trial_no"] % 2 == 0 and 2 <= t["trial_no"] <= 40 for t in mine)
    assert all("label" not in t for t in after["unlabelled_trials"])


def test_labelled_files_are_byte_identical(smoke_dir, smoke_unlabelled_dir, n_unlabelled):
    """Every file of the data set without extra trials is in the one with them, byte for byte, except
    the two that describe the whole set (README.txt, ground_truth.json)."""
    without, with_ = _hashes(smoke_dir), _hashes(smoke_unlabelled_dir)
    assert {k: v for k, v in with_.items() if k in without and k not in ("README.txt", TRUTH_FILE)} == \
        {k: v for k, v in without.items() if k not in ("README.txt", TRUTH_FILE)}
    added = set(with_) - set(without)
    assert UNLABELLED_LATENT_FILE in added and len(added) == 1 + 3 * n_unlabelled * 3  # 3 files per session
    old = json.loads((smoke_dir / TRUTH_FILE).read_text())
    new = json.loads((smoke_unlabelled_dir / TRUTH_FILE).read_text())
    assert new["config"].pop("unlabelled_per_subject") == n_unlabelled
    assert {k: v for k, v in new.items() if k not in ("unlabelled_trials", "unlabelled_latent_file")} == old


def test_unlabelled_sessions_have_no_label_row(smoke_unlabelled_dir, n_unlabelled):
    root = smoke_unlabelled_dir
    truth = json.loads((root / TRUTH_FILE).read_text())
    labels = read_labels(root / LABEL_FILE)
    extra = {(t["subject"], t["trial_no"]) for t in truth["unlabelled_trials"]}
    assert len(extra) == 3 * n_unlabelled and not extra & set(labels)
    assert set(read_latent(root)) == set(labels)  # the labelled trials' latent file is as before
    latent = read_latent(root, UNLABELLED_LATENT_FILE)
    assert set(latent) == extra and truth["unlabelled_latent_file"] == UNLABELLED_LATENT_FILE
    for t in truth["unlabelled_trials"]:
        folder = root / "Sessions" / str((t["subject"] - 1) * 130 + t["trial_no"])
        assert (folder / f"Part_{t['subject']}_S_Trial{t['trial_no'] // 2}_emotion.bdf").is_file()
        assert (folder / "face_frames.npz").is_file()
        xml = ET.parse(folder / "session.xml").getroot()
        assert int(xml.get("cutNr")) == t["clip"] and xml.get("isStim") == "1"
        # the latent covers the clip at 4 Hz, as a label trace would
        assert latent[(t["subject"], t["trial_no"])].size == round(float(xml.get("cutLenSec")) * 4)
    assert UNLABELLED_LATENT_FILE in (root / "README.txt").read_text()
