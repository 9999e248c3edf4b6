"""The public MAHNOB-HCI feature release: the real files (read from ../shared, never from the network)."""

import hashlib
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import scipy.io
from conftest import find_release

from emokd.io import features
from emokd.core.config import PAPER_TRIALS_PER_SUBJECT
from emokd.training.datasets import Fold
from emokd.errors import EmokdError
from emokd.training.folddata import reference_predictions
from emokd.io.features import feature_file_name, load_feature_release, published_sha256, read_feature_file
from emokd.core.metrics import ccc

RELEASE = find_release()
pytestmark = pytest.mark.skipif(RELEASE is None, reason="the local copy of the MAHNOB-HCI feature release "
                                "(../shared/data/mahnob-hci or $EMOKD_MAHNOB_FEATURES) is not here")


def test_all_239_trials_of_24_subjects_with_the_documented_counts(release):
    assert len(release) == 239
    counts = {}
    for t in release:
        counts[t["subject"]] = counts.get(t["subject"], 0) + 1
    assert counts == PAPER_TRIALS_PER_SUBJECT
    assert sum(t["valence"].size for t in release) == 77536
    lengths = [t["valence"].size for t in release]
    assert min(lengths) == 140 and max(lengths) == 469


def test_target_is_twice_the_label_and_shapes(release):
    for t in release:
        n = t["valence"].size
        np.testing.assert_allclose(t["target"], 2 * t["valence"], rtol=1e-6, atol=1e-7)
        assert t["eeg"].shape == (n, 128) and t["eeg85"].shape == (n, 85)
        assert t["face"].shape == (n, 327) and t["gaze"].shape == (n, 2)
        assert t["eeg"].dtype == np.float32


def test_trial_mean_oracle_scores_the_documented_073_over_all_trials(release):
    """The data's README: each trial's own mean, concatenated over all 239 trials, scores CCC 0.73."""
    trials = {t["key"]: t for t in release}
    fold = Fold(0, (next(iter(trials)),), (), tuple(trials))  # the training trial only sets ref_train_mean
    oracle = reference_predictions(trials, fold)["ref_trial_mean_oracle"]
    y = np.concatenate([trials[k]["valence"] for k in fold.test]).astype(np.float64)
    pred = np.concatenate([oracle[k] for k in fold.test]).astype(np.float64)
    lin = 2 * np.cov(y, pred, bias=True)[0, 1] / (y.var() + pred.var() + (y.mean() - pred.mean()) ** 2)
    assert lin == pytest.approx(0.73, abs=0.005)
    assert ccc(pred, y) == pytest.approx(lin, rel=1e-5)


def test_float64_originals_equal_float32_copies_and_match_published_sums():
    sums = published_sha256()
    assert len(sums) == 240
    originals = sorted((RELEASE / "original-sample").glob("*.mat"))
    assert originals
    for path in originals:
        assert hashlib.sha256(path.read_bytes()).hexdigest() == sums[f"Features/{path.name}"]
        orig = read_feature_file(path)
        copy = read_feature_file(RELEASE / "features" / path.name)
        for k in orig:
            raw = scipy.io.loadmat(path)[k]
            assert raw.dtype == np.float64
            np.testing.assert_array_equal(orig[k], copy[k])  # both rounded to float32 here
    label = RELEASE / "lable_continous_Mahnob.mat"
    assert hashlib.sha256(label.read_bytes()).hexdigest() == sums["lable_continous_Mahnob.mat"]


def _damaged_copy(tmp_path, subject=2, trial_no=14, **fields):
    root = tmp_path / "release"
    (root / "Features").mkdir(parents=True)
    shutil.copy(RELEASE / "lable_continous_Mahnob.mat", root)
    for p in (RELEASE / "features").glob("*.mat"):
        os.symlink(p, root / "Features" / p.name)
    name = feature_file_name(subject, trial_no)
    mat = {k: v for k, v in scipy.io.loadmat(RELEASE / "features" / name).items() if not k.startswith("__")}
    for k, v in fields.items():
        if v is None:
            del mat[k]
        else:
            mat[k] = v(mat[k])
    (root / "Features" / name).unlink()
    scipy.io.savemat(root / "Features" / name, mat)
    return root, name


@pytest.mark.parametrize("fields, message", [
    ({"face_feats": None}, "field 'face_feats' is missing"),
    ({"eeg_band_feats_full": lambda a: a[:, :100]}, r"expected \(T, 128\)"),
    ({"gaze_feats": lambda a: np.where(np.arange(a.shape[0])[:, None] == 3, np.nan, a)}, "NaN"),
    ({"face_feats": lambda a: a[:-5]}, "rows but 'target'"),
    ({"target": lambda a: a[:, :-5], "eeg_band_feats_full": lambda a: a[:-5], "eeg_band_feats": lambda a: a[:-5],
      "face_feats": lambda a: a[:-5], "gaze_feats": lambda a: a[:-5]}, "but the label file has"),
    ({"target": lambda a: a * 1.01}, r"field 'target' is not 2 x the label file's trace of subject 2 trial 14"),
])
def test_bad_files_name_the_file_and_field(tmp_path, fields, message):
    root, name = _damaged_copy(tmp_path, **fields)
    with pytest.raises(EmokdError, match=message) as err:
        load_feature_release(root)
    assert name in str(err.value)


def test_swapped_files_of_the_same_length_are_refused(tmp_path):
    """Two feature files of the same length, swapped: each loads its trial's EEG under another trial's key."""
    from emokd.io.mahnob import read_labels

    labels = read_labels(RELEASE / "lable_continous_Mahnob.mat")
    by_len = {}
    for key, v in labels.items():
        by_len.setdefault(v.size, []).append(key)
    a, b = next(keys for keys in by_len.values() if len(keys) >= 2)[:2]
    root = tmp_path / "release"
    (root / "Features").mkdir(parents=True)
    shutil.copy(RELEASE / "lable_continous_Mahnob.mat", root)
    for p in (RELEASE / "features").glob("*.mat"):
        os.symlink(p, root / "Features" / p.name)
    fa, fb = root / "Features" / feature_file_name(*a), root / "Features" / feature_file_name(*b)
    ta, tb = os.readlink(fa), os.readlink(fb)
    fa.unlink(), fb.unlink()
    os.symlink(tb, fa), os.symlink(ta, fb)
    with pytest.raises(EmokdError, match=r"field 'target' is not 2 x the label file's trace.*swapped"):
        load_feature_release(root)


def test_missing_file_and_no_folder(tmp_path):
    root = tmp_path / "r"
    root.mkdir()
    shutil.copy(RELEASE / "lable_continous_Mahnob.mat", root)
    with pytest.raises(EmokdError, match=r"P1-features-resamp4hz-trial-\d+.mat not found"):
        load_feature_release(root)
    with pytest.raises(EmokdError, match="fetch=True"):
        load_feature_release()


def test_offline_fetch_says_what_to_do(tmp_path, monkeypatch):
    import pooch

    class Offline:
        def fetch(self, name, progressbar=False):
            raise ConnectionError("Failed to resolve 'raw.githubusercontent.com'")

    monkeypatch.setattr(pooch, "create", lambda **kw: Offline())
    with pytest.raises(EmokdError, match="Offline\\? Download it on a connected machine"):
        features.fetch_feature_release(tmp_path)


def _mini_release(tmp_path, subjects=(16, 18, 30)) -> Path:
    """The release restricted to a few small subjects (2 + 1 + 3 trials): label file rewritten, features linked."""
    from emokd.io.mahnob import read_labels

    labels = {k: v for k, v in read_labels(RELEASE / "lable_continous_Mahnob.mat").items() if k[0] in subjects}
    root = tmp_path / "mini"
    (root / "Features").mkdir(parents=True)
    cells = np.empty((len(labels), 1), dtype=object)
    for i, trace in enumerate(labels.values()):
        cells[i, 0] = trace[None, :]
    scipy.io.savemat(root / "lable_continous_Mahnob.mat",
                     {"trials_included": np.array(list(labels), dtype=np.uint8), "labels": cells})
    for s, t in labels:
        os.symlink(RELEASE / "features" / feature_file_name(s, t), root / "Features" / feature_file_name(s, t))
    return root


@pytest.mark.slow
def test_run_on_the_feature_release_end_to_end(tmp_path):
    """`emokd run --data RELEASE`: a TCN teacher on facial features, the student on the 128 EEG features."""
    import json
    import subprocess
    import sys

    root = _mini_release(tmp_path)
    assert len(load_feature_release(root)) == 6
    out = tmp_path / "run"
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    result = subprocess.run([sys.executable, "-m", "emokd", "run", "--preset", "smoke", "--data", str(root),
                             "--out", str(out), "--max-epochs", "1", "--n-jobs", "2", "--quiet"],
                            capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr
    res = json.loads((out / "results.json").read_text())
    assert res["config"]["data_format"] == "features" and res["config"]["teacher_input"] == "face"
    assert res["config"]["teacher"]["n_inputs"] == 327 and res["config"]["student"]["n_inputs"] == 128
    assert [f["test"]["subjects"] for f in res["folds"]] == [[16], [18], [30]]
    assert not (out / "data").exists()  # nothing synthetic was generated


def _tiny_release(root, face=None) -> Path:
    """One trial (subject 1, trial 2, 8 steps) in the release's layout, under ``root/Features``."""
    valence = np.linspace(-0.2, 0.2, 8)
    cells = np.empty((1, 1), dtype=object)
    cells[0, 0] = valence[None, :]
    (root / "Features").mkdir(parents=True)
    scipy.io.savemat(root / "lable_continous_Mahnob.mat", {"trials_included": np.array([[1, 2]]), "labels": cells})
    rng = np.random.default_rng(0)
    scipy.io.savemat(root / "Features" / feature_file_name(1, 2),
                     {"target": 2 * valence[None, :], "eeg_band_feats_full": rng.normal(size=(8, 128)),
                      "eeg_band_feats": rng.normal(size=(8, 85)),
                      "face_feats": rng.normal(size=(8, 327)) if face is None else face,
                      "gaze_feats": rng.normal(size=(8, 2))})
    return root


def test_both_feature_folders_are_refused(tmp_path):
    """`Features/` and `features/` side by side used to be mixed, trial by trial."""
    root = _tiny_release(tmp_path / "r")
    assert len(load_feature_release(root)) == 1
    (root / "features").mkdir()
    with pytest.raises(EmokdError, match=f"{root}: holds both Features/ and features/"):
        load_feature_release(root)


@pytest.mark.parametrize("face, dtype", [(np.full((8, 327), 1 + 1j), "complex128"), (np.ones((8, 327), bool), "bool")])
def test_features_that_are_not_real_numbers_are_refused(tmp_path, face, dtype):
    """Complex and boolean features used to be cast to float32 (the imaginary part dropped)."""
    root = _tiny_release(tmp_path / "r", face=face)
    with pytest.raises(EmokdError, match=f"{feature_file_name(1, 2)}: field 'face_feats' is {dtype}, expected real"):
        load_feature_release(root)
