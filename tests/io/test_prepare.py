"""Preparing a whole dataset: manifest, skipping, interruption, parameters."""

import hashlib
import json

import numpy as np
import pytest

from emokd.io import prepare as prep
from emokd.core.config import PrepareConfig
from emokd.errors import EmokdError
from emokd.io.mahnob import read_labels


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
    from emokd.training.folddata import load_trials

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


# --- hostile inputs (issue 31, item 4) ----------------------------------------------------

def _source(manifest: dict, key: str, suffix: str) -> str:
    return next(s["path"] for s in manifest["trials"][key]["sources"] if s["path"].endswith(suffix))


def _alter_bdf(path):
    """3,840 bytes in the middle replaced (same size): 5 EEG channels of one 1 s record copied from the record before."""
    data = bytearray(path.read_bytes())
    header, record = 256 * 48, 47 * 256 * 3
    k = (len(data) - header) // record // 2
    at = header + k * record
    data[at:at + 3840] = data[at - record:at - record + 3840]
    path.write_bytes(bytes(data))


def _invert_frames(path):
    with np.load(path) as npz:
        frames, fps = npz["frames"], npz["fps"]
    size = path.stat().st_size
    np.savez(path, frames=255 - frames, fps=fps)
    assert path.stat().st_size == size


@pytest.mark.parametrize("change", ["bdf", "frames", "other folder"])
def test_changed_sources_of_the_same_size_are_prepared_again(smoke_copy, tmp_path, change):
    """Sources used to be compared by size only: an edit in place, or another folder's files under the
    same names, were taken for prepared ("6 already prepared")."""
    import shutil

    out = tmp_path / "prep"
    first = prep.prepare_dataset(smoke_copy, out, progress=False)
    key = sorted(first["trials"])[2]
    root = smoke_copy
    if change == "bdf":
        _alter_bdf(smoke_copy / _source(first, key, ".bdf"))
    else:
        if change == "other folder":
            root = tmp_path / "other"
            shutil.copytree(smoke_copy, root)
        _invert_frames(root / _source(first, key, "face_frames.npz"))
    again = prep.prepare_dataset(root, out, progress=False)
    assert again["n_skipped"] == 5 and again["source"] == str(root.resolve())
    assert again["trials"][key]["sha256"] != first["trials"][key]["sha256"]
    assert all(again["trials"][k] == first["trials"][k] for k in first["trials"] if k != key)


def test_changed_subject_id_in_session_xml_is_read_again(smoke_copy, tmp_path):
    """Another subject id in session.xml (same size) used to pass as prepared; read again, it is refused."""
    out = tmp_path / "prep"
    first = prep.prepare_dataset(smoke_copy, out, progress=False)
    key = sorted(first["trials"])[0]
    xml = smoke_copy / _source(first, key, "session.xml")
    xml.write_text(xml.read_text().replace('<subject id="1"', '<subject id="2"'))
    with pytest.raises(EmokdError, match=r"session.xml: subject id '2', expected 1"):
        prep.prepare_dataset(smoke_copy, out, progress=False)


@pytest.mark.slow
def test_prepare_is_refused_while_a_run_reads_the_folder(smoke_copy, tmp_path, monkeypatch):
    """A run used to read its trials from a folder that another `prepare` could rewrite under it."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    from emokd.evaluation import experiment
    from emokd.core.config import experiment_config

    out = tmp_path / "prep"
    prep.prepare_dataset(smoke_copy, out, progress=False)
    seen = {}

    def run_that_prepares_meanwhile(prepared_dir, cfg, run_out, **kwargs):  # another process re-prepares
        env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2]))
        seen["proc"] = subprocess.run([sys.executable, "-m", "emokd", "prepare", str(smoke_copy), "--out", str(out),
                                       "--quiet"], capture_output=True, text=True, env=env, timeout=120)
        return {}

    monkeypatch.setattr(experiment, "_run_experiment", run_that_prepares_meanwhile)
    experiment.run_experiment(out, experiment_config("smoke", "trs"), tmp_path / "run", progress=False)
    assert seen["proc"].returncode != 0
    assert f"{out}: another emokd process is reading or preparing this prepared folder" in seen["proc"].stderr
    assert prep.prepare_dataset(smoke_copy, out, progress=False)["n_skipped"] == 6  # the run is over: allowed


def test_one_session_without_face_frames_is_refused(smoke_copy, tmp_path):
    """It used to pass `prepare`, and the run then failed in linear.frame_features."""
    missing = sorted((smoke_copy / "Sessions").rglob("face_frames.npz"))[1]
    missing.unlink()
    with pytest.raises(EmokdError, match=f"{missing}: not found, but 5 other sessions have face frames"):
        prep.prepare_dataset(smoke_copy, tmp_path / "prep", progress=False)
    skipped = prep.prepare_dataset(smoke_copy, tmp_path / "prep", progress=False, on_error="skip")
    assert len(skipped["trials"]) == 5 and len(skipped["failed"]) == 1


def test_preparation_killed_before_any_trial_says_it_is_incomplete(smoke_copy, tmp_path, monkeypatch):
    """Killed before its manifest was written, a preparation used to leave a folder that `run --data` took for a
    source folder ("label file not found")."""
    out = tmp_path / "prep"

    def killed(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(prep, "read_trial", killed)
    with pytest.raises(KeyboardInterrupt):
        prep.prepare_dataset(smoke_copy, out, progress=False)
    with pytest.raises(EmokdError, match=rf"manifest.json: incomplete preparation \(interrupted after 0 of 6 trials\); "
                                         rf"finish it with `python -m emokd prepare {smoke_copy.resolve()} --out {out}`"):
        prep.load_prepared(out)
    # a folder of trials without its manifest (an emokd that wrote it only after the first trial): not a source
    (out / "manifest.json").unlink()
    np.savez(out / "P01_T02.npz", eeg_bp=np.zeros((1, 6, 32)))
    with pytest.raises(EmokdError, match=rf"{out}: no lable_continous_Mahnob.mat and no manifest.json, but prepared "
                                         r"trial files \(P01_T02.npz, ...\): an incomplete preparation"):
        prep.prepare_dataset(out, tmp_path / "again", progress=False)
