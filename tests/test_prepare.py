"""Preparing a whole dataset: manifest, skipping, interruption, parameters."""

import hashlib
import json

import numpy as np
import pytest

from emokd import prepare as prep
from emokd.config import PrepareConfig
from emokd.errors import EmokdError
from emokd.mahnob import read_labels


def test_manifest(smoke_dir, smoke_prepared):
    out, manifest = smoke_prepared
    on_disk = json.loads((out / "manifest.json").read_text())
    assert on_disk["params_hash"] == PrepareConfig().params_hash()
    assert set(on_disk["versions"]) >= {"emokd", "mne", "numpy", "scipy", "python"}
    labels = read_labels(smoke_dir / "lable_continous_Mahnob.mat")
    assert len(on_disk["trials"]) == len(labels) == 6
    for (subject, trial_no), valence in labels.items():
        entry = on_disk["trials"][prep.trial_key(subject, trial_no)]
        assert entry["shapes"]["eeg_bp"] == [valence.size, 6, 32]
        assert entry["shapes"]["frames"] == [valence.size, 4, 48, 48]
        assert len(entry["sources"]) == 3
        for src in entry["sources"]:
            data = (smoke_dir / src["path"]).read_bytes()
            assert src["bytes"] == len(data) and src["sha256"] == hashlib.sha256(data).hexdigest()
    trials = prep.load_prepared(out)
    assert [t["key"] for t in trials] == list(on_disk["trials"])
    assert trials[0]["eeg_bp"].dtype == np.float32 and trials[0]["frames"].dtype == np.uint8
    # a subset, without frames: the same arrays
    pick = [trials[3]["key"], trials[1]["key"]]
    some = prep.load_prepared(out, frames=False, keys=pick)
    assert [t["key"] for t in some] == [trials[1]["key"], trials[3]["key"]]  # manifest order
    assert all(t["frames"] is None for t in some)
    np.testing.assert_array_equal(some[1]["eeg_bp"], trials[3]["eeg_bp"])
    with pytest.raises(EmokdError, match="no prepared trial P99"):
        prep.load_prepared(out, keys=["P99_T02"])


def test_skips_prepared_trials_and_redoes_changed_ones(smoke_copy, tmp_path):
    out = tmp_path / "prep"
    first = prep.prepare_dataset(smoke_copy, out, progress=False)
    assert first["n_skipped"] == 0
    again = prep.prepare_dataset(smoke_copy, out, progress=False)
    assert again["n_skipped"] == 6 and again["trials"] == first["trials"]
    # a deleted output is redone, the rest skipped
    key = next(iter(first["trials"]))
    (out / f"{key}.npz").unlink()
    assert prep.prepare_dataset(smoke_copy, out, progress=False)["n_skipped"] == 5
    # other parameters: everything is redone
    other = prep.prepare_dataset(smoke_copy, out, PrepareConfig(frames_per_step=2), progress=False)
    assert other["n_skipped"] == 0 and other["params_hash"] != first["params_hash"]
    assert other["trials"][key]["shapes"]["frames"][1] == 2


def test_interrupted_run_leaves_nothing_that_looks_complete(smoke_copy, tmp_path, monkeypatch):
    out = tmp_path / "prep"
    real_savez, calls = np.savez, []

    def savez_then_crash(file, **arrays):
        calls.append(1)
        if len(calls) == 3:  # the third trial dies halfway through writing
            file.write(b"partial npz")
            raise KeyboardInterrupt
        real_savez(file, **arrays)

    monkeypatch.setattr(prep.np, "savez", savez_then_crash)
    with pytest.raises(KeyboardInterrupt):
        prep.prepare_dataset(smoke_copy, out, progress=False)
    manifest = json.loads((out / "manifest.json").read_text())
    assert len(manifest["trials"]) == 2
    assert sorted(p.name for p in out.glob("*.npz")) == sorted(e["file"] for e in manifest["trials"].values())
    assert len(list(out.glob("*.tmp"))) == 1  # the half-written trial, under its temporary name

    monkeypatch.setattr(prep.np, "savez", real_savez)
    resumed = prep.prepare_dataset(smoke_copy, out, progress=False)
    assert resumed["n_skipped"] == 2 and len(resumed["trials"]) == 6
    assert not list(out.glob("*.tmp"))


def test_bad_trial_raises_or_is_skipped(smoke_copy, tmp_path):
    victim = next((smoke_copy / "Sessions").rglob("*.bdf"))
    victim.write_bytes(victim.read_bytes()[:-5000])
    with pytest.raises(EmokdError, match=rf"{victim.name}: truncated"):
        prep.prepare_dataset(smoke_copy, tmp_path / "a", progress=False)
    manifest = prep.prepare_dataset(smoke_copy, tmp_path / "b", progress=False, on_error="skip")
    assert len(manifest["trials"]) == 5 and len(manifest["failed"]) == 1
    assert "truncated" in next(iter(manifest["failed"].values()))


def test_changed_labels_are_not_skipped(smoke_copy, tmp_path):
    import scipy.io

    out = tmp_path / "prep"
    prep.prepare_dataset(smoke_copy, out, progress=False)
    mat = scipy.io.loadmat(smoke_copy / "lable_continous_Mahnob.mat")
    mat["labels"][0, 0] = mat["labels"][0, 0] + 0.01
    scipy.io.savemat(smoke_copy / "lable_continous_Mahnob.mat",
                     {"trials_included": mat["trials_included"], "labels": mat["labels"]})
    assert prep.prepare_dataset(smoke_copy, out, progress=False)["n_skipped"] == 5


def test_load_prepared_without_manifest(tmp_path):
    with pytest.raises(EmokdError, match="no manifest.json"):
        prep.load_prepared(tmp_path)


def test_stopped_preparation_is_marked_and_refused(smoke_copy, tmp_path):
    """prepare stops at the last trial: the manifest says so, and nothing loads it as a complete data set."""
    from emokd.experiment import load_trials

    last = sorted((smoke_copy / "Sessions").rglob("*.bdf"))[-1]
    manifest0 = prep.prepare_dataset(smoke_copy, tmp_path / "ok", progress=False)
    key = next(k for k, t in manifest0["trials"].items()
               if any(s["path"].endswith(last.name) for s in t["sources"]))
    last.write_bytes(last.read_bytes()[:-5000])
    out = tmp_path / "prep"
    with pytest.raises(EmokdError, match="truncated"):
        prep.prepare_dataset(smoke_copy, out, progress=False)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["n_expected"] == 6 and manifest["finished"] is False and manifest["stopped_at"] == key
    assert len(manifest["trials"]) == 5 and "truncated" in manifest["failed"][key]
    with pytest.raises(EmokdError, match=rf"incomplete preparation \(stopped at {key}, 5 of 6 trials.*failed {key}"):
        load_trials(out)
    # skipped on purpose, the same trial leaves a finished manifest that loads
    skipped = prep.prepare_dataset(smoke_copy, out, progress=False, on_error="skip")
    assert skipped["finished"] is True and list(skipped["failed"]) == [key] and len(load_trials(out)) == 5


def test_same_size_damage_is_not_taken_for_prepared(smoke_copy, tmp_path):
    out = tmp_path / "prep"
    prep.prepare_dataset(smoke_copy, out, progress=False)
    victim = sorted(out.glob("*.npz"))[0]
    good = victim.read_bytes()
    damaged = bytearray(good)
    damaged[len(damaged) // 2] ^= 0xFF  # one byte flipped: same size
    victim.write_bytes(bytes(damaged))
    again = prep.prepare_dataset(smoke_copy, out, progress=False)
    assert again["n_skipped"] == 5 and victim.read_bytes() == good
