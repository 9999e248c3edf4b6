"""The synthetic MAHNOB-HCI-like dataset: layout, determinism, statistics, planted truth."""

import dataclasses
import json
import xml.etree.ElementTree as ET

import mne
import numpy as np
import pytest
import scipy.io

from emokd.core.constants import BDF_CHANNELS, EEG_CHANNELS
from emokd.core.config import PlantedComponent, synth_config
from emokd.errors import EmokdError
from emokd.io.prepare import load_prepared, prepare_dataset
from emokd.synth.synthetic import generate, plan


def test_layout_matches_mahnob(smoke_dir):
    truth = json.loads((smoke_dir / "ground_truth.json").read_text())
    mat = scipy.io.loadmat(smoke_dir / "lable_continous_Mahnob.mat")
    included = mat["trials_included"]
    assert included.dtype == np.uint8 and included.shape == (6, 2)
    assert mat["labels"].shape == (6, 1) and mat["labels"].dtype == object
    for (subject, trial_no), cell, trial in zip(included.astype(int), mat["labels"][:, 0], truth["trials"]):
        assert trial_no % 2 == 0 and 2 <= trial_no <= 40
        folder = smoke_dir / "Sessions" / str((subject - 1) * 130 + trial_no)
        bdf = folder / f"Part_{subject}_S_Trial{trial_no // 2}_emotion.bdf"
        assert bdf.is_file() and (folder / "face_frames.npz").is_file()
        xml = ET.parse(folder / "session.xml").getroot()
        for attr in ("cutNr", "cutLenSec", "feltVlnc", "feltArsl", "vidRate", "sessionId", "isStim"):
            assert attr in xml.attrib, attr
        assert xml.find("subject").get("id") == str(subject)
        assert int(xml.get("cutNr")) == trial["clip"]
        # label trace: (1, T) at 4 Hz covering the clip
        assert cell.shape[0] == 1 and cell.dtype == np.float64
        assert cell.shape[1] == round(float(xml.get("cutLenSec")) * 4)


def test_bdf_read_by_mne(smoke_dir):
    folder = next((smoke_dir / "Sessions").iterdir())
    bdf = next(folder.glob("*.bdf"))
    raw = mne.io.read_raw_bdf(bdf, preload=True, verbose="error")
    assert raw.ch_names == list(BDF_CHANNELS)
    assert raw.info["sfreq"] == 256
    eeg = raw.get_data(picks=list(EEG_CHANNELS))
    rms_uv = eeg.std(axis=1) * 1e6
    assert np.all((rms_uv > 5) & (rms_uv < 200)), rms_uv  # EEG-like amplitudes
    # two rising edges: stimulus start at 30 s, end at 30 s + clip length
    status = raw.get_data(picks=["Status"])[0].astype(int) & 0xFFFF
    edges = np.flatnonzero(np.diff(status) > 0) + 1
    clip_s = float(ET.parse(folder / "session.xml").getroot().get("cutLenSec"))
    np.testing.assert_array_equal(edges, [30 * 256, round((30 + clip_s) * 256)])
    assert raw.n_times / 256 >= 60 + clip_s
    # posterior alpha: O1/O2 have more 8-12 Hz power than Fp1/Fp2 ...
    psd, freqs = mne.time_frequency.psd_array_welch(eeg, 256, fmin=1, fmax=45, n_per_seg=512, verbose="error")
    alpha = psd[:, (freqs >= 8) & (freqs <= 12)].mean(axis=1)
    idx = {c: i for i, c in enumerate(EEG_CHANNELS)}
    assert alpha[[idx["O1"], idx["O2"]]].min() > alpha[[idx["Fp1"], idx["Fp2"]]].max()
    # ... and a 1/f background: more power at 2-4 Hz than at 35-45 Hz everywhere
    low, high = psd[:, (freqs >= 2) & (freqs <= 4)].mean(1), psd[:, (freqs >= 35) & (freqs <= 45)].mean(1)
    assert np.all(low > 10 * high)


@pytest.mark.slow
def test_deterministic_from_seed(tmp_path):
    cfg = synth_config("smoke", trials_per_subject={1: 1, 2: 1})
    a, b, c = (generate(tmp_path / name, cfg, seed=seed, progress=False) for name, seed in
               (("a", 3), ("b", 3), ("c", 4)))
    assert a == b and a != c
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    assert len(files) == 4 + 2 * 3  # labels, latent valence, ground truth, README; 3 per session
    for rel in files:
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes(), rel
    label = "lable_continous_Mahnob.mat"
    assert (tmp_path / "a" / label).read_bytes() != (tmp_path / "c" / label).read_bytes()


def _between_fraction(traces):
    allv = np.concatenate(traces)
    return sum(t.size * (t.mean() - allv.mean()) ** 2 for t in traces) / ((allv - allv.mean()) ** 2).sum()


def test_valence_statistics_like_real_traces():
    """Real traces (shared/data/mahnob-hci/README.md): SD 0.07, 58 % between trials,
    lag-1 autocorrelation 0.98, start near 0, 35-117 s. Averaged over seeds, since a
    dataset has only 20 clips and 24 subjects."""
    sds, between, lag1 = [], [], []
    for seed in range(5):
        p = plan(synth_config("paper"), seed=seed)
        traces = [t["valence"] for t in p["trials"]]
        assert len(traces) == 239 and len({t["subject"] for t in p["trials"]}) == 24
        assert all(140 <= t.size <= 469 for t in traces)
        assert max(abs(t[0]) for t in traces) < 0.01
        sds.append(np.concatenate(traces).std())
        between.append(_between_fraction(traces))
        centred = [t - t.mean() for t in traces]
        lag1.append(np.mean([(c[1:] * c[:-1]).sum() / (c * c).sum() for c in centred]))
    assert 0.06 < np.mean(sds) < 0.08
    assert 0.5 < np.mean(between) < 0.7
    assert 0.96 < np.mean(lag1) < 0.995


def test_paper_preset_has_real_trial_counts():
    p = plan(synth_config("paper"), seed=0)
    counts = {}
    for t in p["trials"]:
        counts[t["subject"]] = counts.get(t["subject"], 0) + 1
    assert counts == {1: 19, 2: 5, 3: 13, 4: 9, 5: 13, 6: 9, 7: 13, 8: 13, 10: 5, 13: 6, 14: 13, 16: 2,
                      18: 1, 19: 11, 20: 17, 21: 10, 22: 14, 23: 15, 24: 12, 25: 16, 27: 6, 28: 4, 29: 10,
                      30: 3}


def _valence_correlations(trials):
    """Pearson r of each (band, channel) feature with valence, within subject, pooled."""
    xs, ys = [], []
    for t in trials:
        x = np.log(t["eeg_bp"].reshape(len(t["valence"]), -1))
        xs.append(x - x.mean(0))
        ys.append(t["valence"] - t["valence"].mean())
    x, y = np.concatenate(xs), np.concatenate(ys)
    return ((x * y[:, None]).sum(0) / np.sqrt((x**2).sum(0) * (y**2).sum())).reshape(6, 32)


@pytest.mark.slow
def test_planted_default_pattern_shows_in_features(tmp_path):
    # a strong effect (eeg_gain 1.2) on 9 trials: this test is about where the effect goes
    cfg = synth_config("smoke", trials_per_subject={1: 3, 2: 3, 3: 3}, eeg_gain=1.2)
    truth = np.array(generate(tmp_path / "data", cfg, seed=1, progress=False)["truth_map"])
    assert np.all(truth[:4] == 0) and np.all(truth[4:] > 0)  # beta and gamma, every channel
    prepare_dataset(tmp_path / "data", tmp_path / "prep", progress=False)
    r = _valence_correlations(load_prepared(tmp_path / "prep"))
    assert r[4:].mean() > 0.2  # relative beta/gamma power rises with valence
    assert r[4:].mean() > r[:4].mean() + 0.2


def test_default_snr_still_shows(smoke_prepared):
    """At the default signal-to-noise ratio the effect is weaker but clearly there."""
    r = _valence_correlations(load_prepared(smoke_prepared[0]))
    assert r[4:].mean() > r[:4].mean() + 0.05


@pytest.mark.slow
def test_planted_frontal_alpha_pattern(tmp_path):
    frontal = ("Fp1", "AF3", "F3", "F7", "Fp2", "AF4", "F4", "F8", "Fz")
    # a strong effect (eeg_gain 1.2): frontal channels also carry blinks, which make
    # relative alpha noisy there, and this test is about where the effect goes
    cfg = synth_config("smoke", trials_per_subject={1: 3, 2: 3, 3: 3}, eeg_gain=1.2,
                       pattern=(PlantedComponent(8.0, 12.0, frontal, 1.0),))
    truth = generate(tmp_path / "data", cfg, seed=1, progress=False)
    tm = np.array(truth["truth_map"])
    idx = [EEG_CHANNELS.index(c) for c in frontal]
    others = [i for i in range(32) if i not in idx]
    assert np.all(tm[2, idx] > 0) and np.all(tm[2, others] == 0) and np.all(np.delete(tm, 2, 0) == 0)
    prepare_dataset(tmp_path / "data", tmp_path / "prep", progress=False)
    r = _valence_correlations(load_prepared(tmp_path / "prep"))
    occipital = [EEG_CHANNELS.index(c) for c in ("O1", "Oz", "O2", "PO3", "PO4")]
    assert r[2, idx].mean() > 0.1
    assert r[2, idx].mean() > r[2, occipital].mean() + 0.1


def test_emg_leakage_adds_frontal_gamma(tmp_path):
    power = {}
    for name, emg in (("off", 0.0), ("on", 3.0)):
        generate(tmp_path / name, synth_config("smoke", trials_per_subject={1: 1}, emg_leakage=emg),
                 seed=2, progress=False)
        prepare_dataset(tmp_path / name, tmp_path / f"{name}-prep", progress=False)
        power[name] = load_prepared(tmp_path / f"{name}-prep")[0]["eeg_bp"][:, 5]  # gamma (T, 32)
    fp1, oz = EEG_CHANNELS.index("Fp1"), EEG_CHANNELS.index("Oz")
    assert power["on"][:, fp1].mean() > 1.5 * power["off"][:, fp1].mean()
    assert power["on"][:, oz].mean() < 1.2 * power["off"][:, oz].mean()


@pytest.mark.parametrize(
    "overrides, match",
    [
        (dict(pattern=(PlantedComponent(18.0, 300.0),)), "planted band"),
        (dict(pattern=(PlantedComponent(8.0, 12.0, ("Xz",)),)), "not EEG channel names"),
        (dict(trials_per_subject={1: 0}), "trials_per_subject"),
        (dict(frames_per_step=0), "frames_per_step"),
        (dict(n_raters=0), "n_raters=0"),
        (dict(n_raters=1.5), "n_raters=1.5"),
        (dict(annotation_noise_sd=-0.1), "annotation_noise_sd=-0.1"),
        (dict(annotation_lag_s=-1.0), "annotation_lag_s=-1.0"),
        (dict(annotation_noise_tau_s=0.0), "annotation_noise_tau_s=0.0"),
        (dict(face_private_sd=float("nan")), "face_private_sd=nan"),
    ],
)
def test_bad_config(overrides, match):
    with pytest.raises(EmokdError, match=match):
        synth_config("smoke", **overrides)


def test_unknown_preset():
    with pytest.raises(EmokdError, match="unknown preset 'huge'"):
        synth_config("huge")


# --- the annotation model: measured on generated traces against the saved latent valence ----------------

def _labels_and_latent(root):
    from emokd.io.mahnob import LABEL_FILE, read_labels, read_latent

    labels, latent = read_labels(root / LABEL_FILE), read_latent(root)
    assert latent is not None and set(labels) == set(latent)
    return labels, latent


def test_default_labels_are_the_latent_exactly(smoke_dir, smoke_prepared):
    import json

    from emokd.io.prepare import load_prepared

    labels, latent = _labels_and_latent(smoke_dir)
    for key in labels:
        assert labels[key].dtype == latent[key].dtype and np.array_equal(labels[key], latent[key]), key
    truth = json.loads((smoke_dir / "ground_truth.json").read_text())
    assert truth["latent_file"] == "latent_valence.npz" and truth["annotation"]["labels_equal_latent"] is True
    for t in load_prepared(smoke_prepared[0], frames=False):  # carried into the prepared trials
        assert t["latent"] is not None and np.array_equal(t["latent"], t["valence"])


def test_annotation_lag_is_the_cross_correlation_peak(tmp_path):
    from scipy.signal import correlate, correlation_lags

    for noise in (0.0, 0.5):
        cfg = synth_config("smoke", trials_per_subject={1: 2}, annotation_lag_s=2.0, annotation_noise_sd=noise)
        generate(tmp_path / f"n{noise}", cfg, seed=1, progress=False)
        labels, latent = _labels_and_latent(tmp_path / f"n{noise}")
        window = np.arange(-40, 41)  # lags (steps) pooled over the trials, which differ in length
        xc = np.zeros(window.size)
        for key in labels:  # cross-correlation of the step-to-step changes (sharper than of the smooth traces)
            a, b = np.diff(labels[key]), np.diff(latent[key])
            full, lags = correlate(a, b, mode="full"), correlation_lags(a.size, b.size, mode="full")
            xc += full[np.searchsorted(lags, window)]
        peak = window[np.argmax(xc)]
        assert abs(peak - 8) <= (0 if noise == 0 else 1), (noise, peak)  # 2 s = 8 steps at 4 Hz
        if noise == 0:  # exactly the latent, 8 steps late
            for key in labels:
                assert np.allclose(labels[key][8:], latent[key][:-8], atol=1e-12)


def test_annotation_noise_sd_drift_and_raters(tmp_path):
    """Residual SD in valence SDs matches the option and falls as 1/sqrt(n_raters); it drifts (AR(1), tau 5 s)."""
    cfg = synth_config("smoke", trials_per_subject={1: 1, 2: 1}, annotation_noise_sd=0.8)
    truth = generate(tmp_path / "g", cfg, seed=2, progress=False)
    labels, latent = _labels_and_latent(tmp_path / "g")
    p = plan(cfg, seed=2)  # the written files are the plan's traces
    for t in p["trials"]:
        key = (t["subject"], t["trial_no"])
        assert np.array_equal(labels[key], t["label"]) and np.array_equal(latent[key], t["valence"])
    sd = truth["valence_sd"]
    # the statistics need long records: the paper-sized plan (239 trials, no signals written)
    res = {}
    for n_raters in (1, 4):
        big = synth_config("paper", annotation_noise_sd=0.8, n_raters=n_raters)
        r = np.concatenate([t["label"] - t["valence"] for t in plan(big, seed=3)["trials"]]) / sd
        res[n_raters] = np.sqrt(np.mean(r**2))  # the noise has mean 0: no mean removed
        if n_raters == 1:
            lag1 = np.mean([np.corrcoef(x[:-1], x[1:])[0, 1] for x in
                            ((t["label"] - t["valence"]) for t in plan(big, seed=3)["trials"])])
            assert lag1 == pytest.approx(np.exp(-0.25 / 5.0), abs=0.02)  # drift, not white noise
    assert res[1] == pytest.approx(0.8, rel=0.08)
    assert res[4] == pytest.approx(0.4, rel=0.08)
    assert res[4] / res[1] == pytest.approx(0.5, rel=0.1)


def test_face_private_content_changes_only_the_faces(tmp_path):
    base = synth_config("smoke", trials_per_subject={1: 1})
    generate(tmp_path / "a", base, seed=5, progress=False)
    generate(tmp_path / "b", dataclasses.replace(base, face_private_sd=1.0), seed=5, progress=False)
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    for rel in files:
        same = (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes()
        if rel.name == "face_frames.npz":
            assert not same
        elif rel.name not in ("ground_truth.json",):
            assert same, rel  # EEG, labels, latent and session.xml untouched


def test_labels_that_leave_the_valence_scale_are_refused_before_anything_is_written(tmp_path):
    """Noise inside the config's bound can still carry a label past +-1, which prepare refuses: generate
    names the trial and writes nothing."""
    from emokd.core.config import synth_config
    from emokd.errors import EmokdError
    from emokd.synth.synthetic import generate

    with pytest.raises(EmokdError, match=r"annotation_noise_sd=6.0: the labels of subject \d+ trial \d+ reach "
                                         r"[\d.]+, outside the valence scale \+-1 that prepare accepts"):
        generate(tmp_path / "d", synth_config("smoke", annotation_noise_sd=6.0), seed=0, progress=False)
    assert not (tmp_path / "d").exists()


@pytest.mark.slow
def test_sessions_written_side_by_side_are_the_same_files(smoke_dir, tmp_path):
    """``n_jobs=2`` (joblib's processes, each session from its own random streams) writes the files of
    ``n_jobs=1`` (the session fixture) byte for byte: the BDF, the frames, session.xml, labels, truth."""
    generate(tmp_path / "two", synth_config("smoke"), seed=0, progress=False, n_jobs=2)
    ours = {p.relative_to(smoke_dir): p.read_bytes() for p in smoke_dir.rglob("*") if p.is_file()}
    theirs = {p.relative_to(tmp_path / "two"): p.read_bytes() for p in (tmp_path / "two").rglob("*") if p.is_file()}
    assert sorted(theirs) == sorted(ours)
    assert [rel for rel in ours if ours[rel] != theirs[rel]] == []
