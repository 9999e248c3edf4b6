"""A synthetic MAHNOB-HCI-like dataset, written to a folder, deterministic from a seed.

Layout (that of the real database, so that one reader serves both)::

    DIR/
      lable_continous_Mahnob.mat     continuous valence at 4 Hz (format of the public file)
      ground_truth.json              the planted truth and every parameter
      latent_valence.npz             the latent valence of every trial (key P01_T10 -> (n_steps,)),
                                     which the face and the EEG follow; the label file holds its annotations
      latent_valence_unlabelled.npz  with ``unlabelled_per_subject`` > 0 only: the latent valence of the
                                     sessions that have no row in the label file (for scoring only)
      README.txt                     what is here
      Sessions/<id>/                 id = (subject - 1) * 130 + trial_no
        Part_<s>_S_Trial<trial_no/2>_emotion.bdf   47 channels, 256 Hz, Biosemi ranges
        session.xml                  cutNr, cutLenSec, feltVlnc, feltArsl, vidRate, ...
        face_frames.npz              frames: uint8 (n_frames, 48, 48) from stimulus start; fps

Each subject watches ``n_clips`` clips in a random order (trial_no = 2 * position);
each clip has a fixed length and its own mean valence, as in the real experiment.
The EEG (see :mod:`emokd.synth.simeeg`) and the face frames (see :mod:`emokd.synth.faces`)
both follow the same *latent* valence trace; blinks appear in both at the same
times. The label file holds *annotations* of it (:func:`annotate`): raters who
report it late (``annotation_lag_s``), with smooth drift-like errors
(``annotation_noise_sd``, ``annotation_noise_tau_s``), averaged over
``n_raters``; by default the labels are the latent trace exactly. Real MAHNOB-HCI
valence traces were annotated by people watching the participants' faces, so they
lag, drift and disagree; a face teacher trained on them can track the expression
better than the labels do, which is the regime where distillation is predicted to
help (Vapnik and Vashist 2009; Lopez-Paz et al. 2016).

Unlabelled paired trials (``unlabelled_per_subject``, issue 33 item 1 (a)): each subject
watches that many more clips, each written as a session like the others (EEG, face frames,
session.xml) but given no row in the label file, as in the real database, where 288 of the 527
stimulus sessions with EEG and video have no continuous valence. They are drawn from their own
random stream (``default_rng([seed, 7])``) after everything else, so every file of the labelled
trials is the same, byte for byte, with or without them; with none the data set is the one an
emokd without the option wrote. ``ground_truth.json`` lists them under ``unlabelled_trials``; their
latent valence is in ``latent_valence_unlabelled.npz`` (:data:`emokd.io.mahnob.UNLABELLED_LATENT_FILE`), for
scoring only: neither ``prepare`` nor training reads a label of theirs, since none exists.

Optionally the face also shows content that the EEG cannot predict
(``face_private_sd``): an expression drift unrelated to valence, not rated by the
annotators. It is the second axis of the distillation study
(``studies/bench_kd_study.py``): the modality focusing hypothesis (Xue et al.
2023) predicts that distillation helps less when part of the teacher's knowledge
is specific to its own modality.
"""

from __future__ import annotations

import io
import json
import logging
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import scipy.io
from scipy.signal import lfilter

from . import faces, simeeg
from ..core.config import SynthConfig
from ..core.constants import BAND_NAMES, BANDS, BDF_CHANNELS, EEG_CHANNELS, OTHER_CHANNELS
from ..core.fileio import atomic_path, save_npz, write_bytes, write_json
from ..errors import EmokdError
from ..io.bdf import BIOSEMI_UV, DIGITAL_MAX, DIGITAL_MIN, write_bdf
from ..io.mahnob import (FRAMES_FILE, LABEL_FILE, LATENT_FILE, MAX_ABS_VALENCE, UNLABELLED_LATENT_FILE, bdf_name,
                         session_dir, session_id)

log = logging.getLogger(__name__)

TRUTH_FILE = "ground_truth.json"
#: the random stream of the unlabelled trials: ``default_rng([seed, 7])``, drawn after everything else
UNLABELLED_STREAM = 7
LABEL_RATE_HZ = 4.0
STATUS_CODE = 1  # trigger bit raised at stimulus start and end
STATUS_CMS = 1 << 20  # Biosemi "CMS in range" bit, set throughout as in real files


def valence_trace(rng, n_steps: int, mean: float, cfg: SynthConfig) -> np.ndarray:
    """A continuous valence trace at 4 Hz, shape (n_steps,).

    ``mean`` + ``valence_within_sd`` x a unit-variance smooth deviation (an AR(1)
    process smoothed by a short Gaussian: lag-1 autocorrelation ~0.98 as in the
    real traces), multiplied by a rise from 0 (annotators start from neutral).
    """
    phi, sd = cfg.valence_ar, cfg.valence_smooth_steps
    half = max(1, int(4 * sd))
    kernel = np.exp(-0.5 * (np.arange(-half, half + 1) / sd) ** 2)
    lags = np.abs(np.subtract.outer(np.arange(kernel.size), np.arange(kernel.size)))
    kernel /= np.sqrt(kernel @ phi**lags @ kernel)  # unit variance after smoothing
    burn = int(10 / (1 - phi))  # let the AR(1) forget its zero start
    ar = lfilter([np.sqrt(1 - phi**2)], [1, -phi], rng.standard_normal(burn + n_steps + 2 * half))[burn:]
    dev = np.convolve(ar, kernel, mode="valid")
    rise = 1.0 - np.exp(-np.arange(n_steps) / (cfg.valence_rise_s * LABEL_RATE_HZ))
    return rise * (mean + cfg.valence_within_sd * dev)


def smooth_noise(rng, n_steps: int, tau_s: float, *, n_series: int = 1) -> np.ndarray:
    """Stationary unit-variance AR(1) noise at 4 Hz, shape (n_series, n_steps).

    ``phi = exp(-0.25 / tau_s)``; the first value is drawn from the stationary
    distribution N(0, 1), so every step has variance 1 and the lag-k
    autocorrelation is ``phi**k`` (a drift with time constant ``tau_s`` seconds).
    """
    phi = float(np.exp(-1.0 / (tau_s * LABEL_RATE_HZ)))
    innovations = rng.standard_normal((n_series, n_steps))
    innovations[:, 1:] *= np.sqrt(1.0 - phi**2)
    return lfilter([1.0], [1.0, -phi], innovations, axis=1)


def annotate(latent: np.ndarray, cfg: SynthConfig, *, valence_sd: float, rng) -> np.ndarray:
    """The label trace that ``cfg.n_raters`` annotators give a latent valence trace, shape (n_steps,).

    Each rater reports ``latent`` delayed by ``cfg.annotation_lag_s`` (linear
    interpolation between 4 Hz steps; before the lag has passed, the first value)
    plus ``cfg.annotation_noise_sd * valence_sd`` x :func:`smooth_noise` with time
    constant ``cfg.annotation_noise_tau_s``, independent between raters; the label
    is their mean. With no lag and no noise the label *is* ``latent`` (the same
    array values, bit for bit) and ``rng`` is not used.

    Parameters
    ----------
    latent : ndarray, shape (n_steps,), valence at 4 Hz (label units)
    cfg : SynthConfig
    valence_sd : float, the SD that defines one valence SD (label units)
    rng : numpy.random.Generator
    """
    latent = np.asarray(latent, dtype=np.float64)
    if cfg.annotation_lag_s == 0 and cfg.annotation_noise_sd == 0:
        return latent.copy()
    time_s = np.arange(latent.size) / LABEL_RATE_HZ
    seen = np.interp(time_s - cfg.annotation_lag_s, time_s, latent)  # clamps to latent[0] before the lag has passed
    if cfg.annotation_noise_sd == 0:
        return seen
    noise = smooth_noise(rng, latent.size, cfg.annotation_noise_tau_s, n_series=cfg.n_raters)
    return seen + cfg.annotation_noise_sd * valence_sd * noise.mean(axis=0)


def _likert(value: float, sd: float) -> int:
    """A 1-9 self-report from a mean valence (5 = neutral)."""
    return int(np.clip(np.rint(5 + 2 * value / sd), 1, 9))


def _session_xml(path: Path, *, subject, trial_no, clip, clip_len_s, mean, sd, rng, fps) -> None:
    attrs = {
        "cutLenSec": f"{clip_len_s:.2f}",
        "cutNr": str(clip),
        "experimentType": "emotion elicitation",
        "feltArsl": str(int(rng.integers(1, 10))),
        "feltCtrl": str(int(rng.integers(1, 10))),
        "feltEmo": str(int(rng.integers(0, 13))),
        "feltPred": str(int(rng.integers(1, 10))),
        "feltVlnc": str(_likert(mean, sd)),
        "isStim": "1",
        "mediaFile": f"synthetic_clip_{clip:02d}.avi",
        "sessionId": str(session_id(subject, trial_no)),
        "vidRate": f"{fps:g}",
    }
    root = ET.Element("session", attrs)
    ET.SubElement(root, "subject", {"id": str(subject)})
    ET.SubElement(root, "track", {"type": "Physiological", "filename": bdf_name(subject, trial_no)})
    ET.SubElement(root, "track", {"type": "Face frames (48x48, from stimulus start)", "filename": FRAMES_FILE})
    with atomic_path(path) as tmp:
        ET.ElementTree(root).write(tmp, encoding="utf-8", xml_declaration=True)


def _other_channels(rng, n_times: int, sfreq: float) -> np.ndarray:
    """Plausible EXG (ECG/EOG), GSR, Erg, Resp and Temp signals in uV, (14, n_times)."""
    time_s = np.arange(n_times) / sfreq
    out = rng.normal(0, 5.0, (14, n_times))
    beat = np.exp(-0.5 * (((time_s * rng.uniform(1.0, 1.3)) % 1.0 - 0.5) / 0.01) ** 2)
    out[0:3] += 800.0 * beat  # EXG1-3: ECG-like
    out[8:10] += 1000.0 + 50.0 * np.cumsum(rng.standard_normal(n_times)) / np.sqrt(sfreq)  # GSR
    out[10:12] += 300.0 * np.sin(2 * np.pi * 1.15 * time_s)  # Erg
    out[12] += 2000.0 * np.sin(2 * np.pi * 0.25 * time_s)  # Resp
    out[13] += 30000.0  # Temp
    return out


def _status(n_times: int, start: int, end: int, sfreq: float) -> np.ndarray:
    status = np.full(n_times, STATUS_CMS, dtype=np.float64)
    width = int(0.1 * sfreq)
    for edge in (start, end):
        status[edge : edge + width] += STATUS_CODE
    return status


def plan(cfg: SynthConfig, *, seed: int) -> dict:
    """Everything of a synthetic dataset except the signals: cheap, deterministic.

    Returns
    -------
    plan : dict
        ``clips`` (length_s, mean_valence), ``weights`` (n_components, 32) planted
        channel weights, ``subjects`` (id -> bias parameters), ``trials`` (list of
        dicts: subject, trial_no, clip, seed, ``valence`` (n_steps,) the latent
        valence at 4 Hz, ``label`` (n_steps,) its annotation, :func:`annotate`),
        ``unlabelled_trials`` (the same dicts without ``label``: :func:`plan_unlabelled`),
        ``valence_sd`` (the SD that defines "one valence SD").
    """
    rng = np.random.default_rng(seed)
    lo, hi = cfg.clip_length_range_s
    clip_len = np.round(rng.uniform(lo, hi, cfg.n_clips) * LABEL_RATE_HZ) / LABEL_RATE_HZ
    # between-trial SD: 0.8 of it from the clip, 0.6 from the subject (0.8^2 + 0.6^2 = 1)
    clip_mean = cfg.valence_mean + cfg.valence_between_sd * 0.8 * rng.standard_normal(cfg.n_clips)
    weights = simeeg.planted_weights(cfg.pattern, rng)
    subjects, trials = {}, []
    for subject, n_trials in cfg.trials_per_subject.items():
        subjects[subject] = {
            "offsets": rng.normal(0.0, cfg.subject_offset_sd, len(cfg.pattern)).tolist(),
            "gain": float(rng.uniform(*cfg.subject_gain_range)),
            "alpha_hz": float(rng.uniform(9.0, 11.0)),
            "scale": float(rng.uniform(0.7, 1.3)),
            "valence_offset": float(rng.normal(0.0, cfg.valence_between_sd * 0.6)),
            # below 2**31: seeds from 2**31 on are reserved for the face backbone's pretraining
            # identities (emokd.training.pretraining.RESERVED_FACE_SEED), so no data set shares a face with them
            "face_seed": int(rng.integers(2**31)),
        }
        order = rng.permutation(cfg.n_clips)[:n_trials] + 1  # clip shown at each position
        positions = np.sort(rng.choice(np.arange(1, 21), n_trials, replace=False))
        for position, clip in zip(positions, order):
            trial_seed = int(rng.integers(2**31))
            n_steps = int(round(clip_len[clip - 1] * LABEL_RATE_HZ))
            mean = clip_mean[clip - 1] + subjects[subject]["valence_offset"]
            valence = valence_trace(np.random.default_rng([trial_seed, 0]), n_steps, mean, cfg)
            trials.append({"subject": subject, "trial_no": int(2 * position), "clip": int(clip),
                           "seed": trial_seed, "mean_valence": float(mean), "valence": valence})
    valence_sd = float(np.hypot(cfg.valence_between_sd, cfg.valence_within_sd))
    for trial in trials:  # its own random stream ([seed, 2]): the annotation changes no signal
        trial["label"] = annotate(trial["valence"], cfg, valence_sd=valence_sd,
                                  rng=np.random.default_rng([trial["seed"], 2]))
    clips = {"length_s": clip_len, "mean_valence": clip_mean}
    return {
        "clips": clips,
        "weights": weights,
        "subjects": subjects,
        "trials": trials,
        # last, from their own stream: nothing above depends on them
        "unlabelled_trials": plan_unlabelled(cfg, seed=seed, clips=clips, subjects=subjects, trials=trials),
        "valence_sd": valence_sd,
    }


def plan_unlabelled(cfg: SynthConfig, *, seed: int, clips: dict, subjects: dict, trials: list[dict]) -> list[dict]:
    """The trials without a label row: ``cfg.unlabelled_per_subject`` more per subject.

    Drawn from ``default_rng([seed, 7])`` alone, subject by subject in the order of
    ``cfg.trials_per_subject``: clips the subject has not seen (each is watched once) at
    positions not taken by its labelled trials (trial_no = 2 * position, positions 1..20).
    Each trial's signals then come from its own seed, as a labelled trial's do.

    Returns
    -------
    trials : list of dict
        subject, trial_no, clip, seed, mean_valence, ``valence`` (n_steps,) the latent valence at
        4 Hz; no ``label`` (the label file has no row for them). Empty when the option is 0.
    """
    if cfg.unlabelled_per_subject == 0:
        return []
    rng = np.random.default_rng([seed, UNLABELLED_STREAM])
    out = []
    for subject in cfg.trials_per_subject:
        mine = [t for t in trials if t["subject"] == subject]
        unseen = np.setdiff1d(np.arange(1, cfg.n_clips + 1), [t["clip"] for t in mine])
        free = np.setdiff1d(np.arange(1, 21), [t["trial_no"] // 2 for t in mine])
        clip_order = rng.permutation(unseen)[:cfg.unlabelled_per_subject]
        positions = np.sort(rng.choice(free, cfg.unlabelled_per_subject, replace=False))
        for position, clip in zip(positions, clip_order):
            trial_seed = int(rng.integers(2**31))
            n_steps = int(round(clips["length_s"][clip - 1] * LABEL_RATE_HZ))
            mean = clips["mean_valence"][clip - 1] + subjects[subject]["valence_offset"]
            valence = valence_trace(np.random.default_rng([trial_seed, 0]), n_steps, mean, cfg)
            out.append({"subject": subject, "trial_no": int(2 * position), "clip": int(clip),
                        "seed": trial_seed, "mean_valence": float(mean), "valence": valence})
    return out


def ensure_generated(out, cfg: SynthConfig, *, seed: int, progress: bool = True, n_jobs: int = 1) -> dict:
    """:func:`generate` unless ``out`` already holds the dataset of this ``cfg`` and ``seed``.

    The check reads ``ground_truth.json`` (written last), so an interrupted
    generation is redone, and so is one whose ``ground_truth.json`` is not
    readable JSON. Returns the ground truth.
    """
    truth = Path(out) / TRUTH_FILE
    if truth.exists():
        try:
            old = json.loads(truth.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            old = None  # damaged: the dataset it described is generated again, as after an interruption
        if isinstance(old, dict) and old.get("config") == json.loads(json.dumps(cfg.to_json())) \
                and old.get("seed") == seed:
            return old
    return generate(out, cfg, seed=seed, progress=progress, n_jobs=n_jobs)


def generate(out, cfg: SynthConfig, *, seed: int, progress: bool = True, n_jobs: int = 1) -> dict:
    """Write a synthetic MAHNOB-HCI-like dataset to ``out`` and return its ground truth.

    Deterministic: the same ``cfg`` and ``seed`` give identical files, with any ``n_jobs``
    (sessions written side by side by joblib's processes; each session draws only from its
    own random streams, ``default_rng([trial seed, i])``).
    Each file is written under a temporary name and renamed when complete.

    Returns
    -------
    truth : dict
        What ``ground_truth.json`` holds: the parameters, the planted
        band x channel map (``truth_map``, rows = ``bands``), per-component channel
        weights, subject biases, clip lengths and mean valences, and the trials.
    """
    from tqdm.auto import tqdm

    out = Path(out)
    p = plan(cfg, seed=seed)
    for t in p["trials"]:  # before anything is written: labels its own prepare would refuse are not made
        peak = float(np.abs(t["label"]).max())
        if peak > MAX_ABS_VALENCE:
            raise EmokdError(f"annotation_noise_sd={cfg.annotation_noise_sd!r}: the labels of subject {t['subject']} "
                             f"trial {t['trial_no']} reach {peak:.3g}, outside the valence scale "
                             f"+-{MAX_ABS_VALENCE:g} that prepare accepts; use less noise or more raters (n_raters)")
    (out / "Sessions").mkdir(parents=True, exist_ok=True)
    mixing = simeeg.mixing_matrix(simeeg.electrode_positions(), cfg.mixing_width_m)
    sessions = p["trials"] + p["unlabelled_trials"]
    args = [(out, trial, cfg, p["subjects"][trial["subject"]], p["weights"], mixing, p["valence_sd"])
            for trial in sessions]
    if n_jobs == 1 or len(sessions) < 2:
        written = (_write_trial(*a) for a in args)
    else:
        from joblib import Parallel, delayed

        written = Parallel(n_jobs=n_jobs, return_as="generator_unordered")(delayed(_write_trial)(*a) for a in args)
    for _ in tqdm(written, total=len(sessions), desc="synth", unit="trial", disable=not progress):
        pass

    # the label file, in the format of the public lable_continous_Mahnob.mat
    included = np.array([[t["subject"], t["trial_no"]] for t in p["trials"]], dtype=np.uint8)
    cells = np.empty((len(p["trials"]), 1), dtype=object)
    for i, t in enumerate(p["trials"]):
        cells[i, 0] = t["label"][None, :]  # (1, n_steps), float64: the annotation of the latent valence
    buf = io.BytesIO()
    scipy.io.savemat(buf, {"trials_included": included, "labels": cells})
    data = bytearray(buf.getvalue())
    # the 116-byte text header holds the creation time: make it fixed, so files are reproducible
    data[:116] = b"MATLAB 5.0 MAT-file, written by emokd (synthetic MAHNOB-HCI-like labels)".ljust(116)
    write_bytes(out / LABEL_FILE, bytes(data))

    # the latent valence the signals follow, beside the labels (trial key as in emokd.io.prepare)
    save_npz(out / LATENT_FILE, {f"P{t['subject']:02d}_T{t['trial_no']:02d}": t["valence"] for t in p["trials"]})
    unlabelled = p["unlabelled_trials"]
    if unlabelled:  # apart, so that the labelled trials' files are the same with or without these
        save_npz(out / UNLABELLED_LATENT_FILE,
                 {f"P{t['subject']:02d}_T{t['trial_no']:02d}": t["valence"] for t in unlabelled})

    truth = {
        "seed": seed,
        "config": cfg.to_json(),
        "bands": [list(b) for b in BANDS],
        "band_names": list(BAND_NAMES),
        "channels": list(EEG_CHANNELS),
        "truth_map": simeeg.truth_map(cfg.pattern, p["weights"], BANDS).tolist(),
        "component_weights": p["weights"].tolist(),
        "valence_sd": p["valence_sd"],
        "subjects": {str(k): v for k, v in p["subjects"].items()},
        "clips": {k: v.tolist() for k, v in p["clips"].items()},
        "trials": [{k: v for k, v in t.items() if k not in ("valence", "label")} for t in p["trials"]],
        "latent_file": LATENT_FILE,
        "annotation": {"lag_s": cfg.annotation_lag_s, "noise_sd": cfg.annotation_noise_sd,
                       "noise_tau_s": cfg.annotation_noise_tau_s, "n_raters": cfg.n_raters,
                       "noise_units": "valence_sd", "labels_equal_latent":
                           cfg.annotation_lag_s == 0 and cfg.annotation_noise_sd == 0},
    }
    if unlabelled:  # only then: a data set without them has the ground truth it always had
        truth["unlabelled_trials"] = [{k: v for k, v in t.items() if k != "valence"} for t in unlabelled]
        truth["unlabelled_latent_file"] = UNLABELLED_LATENT_FILE
    write_json(out / TRUTH_FILE, truth)
    (out / "README.txt").write_text(
        f"Synthetic MAHNOB-HCI-like dataset written by emokd (seed {seed}); not real data.\n"
        f"{TRUTH_FILE}: the planted truth: truth_map[band][channel] is how strongly valence drives the\n"
        "relative power of each feature band (bands, band_names) at each channel (channels);\n"
        "subjects: each subject's bias; config: every generator parameter.\n"
        f"{LATENT_FILE}: the latent valence of each trial (P<subject>_T<trial_no>), which the EEG and the faces\n"
        f"follow; {LABEL_FILE} holds its annotation (ground_truth.json: annotation).\n"
        + (f"{UNLABELLED_LATENT_FILE}: the latent valence of the {len(unlabelled)} sessions that have no row in "
           f"{LABEL_FILE}\n(ground_truth.json: unlabelled_trials); for scoring only, never a label.\n"
           if unlabelled else "")
    )
    log.info("wrote %d synthetic trials (%d of them unlabelled) to %s", len(p["trials"]) + len(unlabelled),
             len(unlabelled), out)
    return truth


def _write_trial(out, trial, cfg, subject, weights, mixing, total_sd) -> None:
    """Write one session folder: BDF, face frames, session.xml."""
    subject_id, trial_no, clip, valence = trial["subject"], trial["trial_no"], trial["clip"], trial["valence"]
    rng = np.random.default_rng([trial["seed"], 1])
    sfreq = cfg.sfreq
    n_steps = valence.size
    duration_s = n_steps / LABEL_RATE_HZ

    margin = int(cfg.margin_s * sfreq)
    n_stim = int(round(duration_s * sfreq))
    # BDF records are whole seconds: the margin after the stimulus is 30 s or a little more
    n_times = int(np.ceil((2 * margin + n_stim) / sfreq) * sfreq)
    # valence in SD units at every sample: 0 before, the trace during, fading after
    step_time_s = np.arange(n_steps) / LABEL_RATE_HZ
    time_s = (np.arange(n_times) - margin) / sfreq  # from stimulus start
    z = np.interp(time_s, step_time_s, valence / total_sd, left=0.0, right=valence[-1] / total_sd)
    after = time_s > step_time_s[-1]
    z[after] *= np.exp(-(time_s[after] - step_time_s[-1]) / 5.0)
    expression = cfg.face_gain * z
    private = None
    if cfg.face_private_sd > 0:  # face-only drift, its own random stream ([seed, 3]); not in the EEG's planted power
        private = cfg.face_private_sd * smooth_noise(np.random.default_rng([trial["seed"], 3]), n_steps,
                                                     cfg.face_private_tau_s)[0]  # (n_steps,) valence SDs
        expression = expression + cfg.face_gain * np.interp(time_s, step_time_s, private, left=0.0, right=0.0)

    blinks = np.flatnonzero(rng.random(n_times) < cfg.blink_rate_hz / sfreq)
    eeg = simeeg.simulate_eeg(z, cfg=cfg, subject=subject, weights=weights, mixing=mixing, rng=rng,
                              blink_samples=blinks, expression=expression)
    other = _other_channels(rng, n_times, sfreq)
    status = _status(n_times, margin, margin + n_stim, sfreq)
    data = np.vstack([eeg, other, status[None, :]])

    folder = session_dir(out, subject_id, trial_no)
    folder.mkdir(parents=True, exist_ok=True)
    units = ["uV"] * (len(BDF_CHANNELS) - 1) + ["Boolean"]
    ranges = [BIOSEMI_UV] * (len(BDF_CHANNELS) - 1) + [(float(DIGITAL_MIN), float(DIGITAL_MAX))]
    assert len(EEG_CHANNELS) + len(OTHER_CHANNELS) == data.shape[0]
    write_bdf(folder / bdf_name(subject_id, trial_no), data, ch_names=BDF_CHANNELS, sfreq=int(sfreq),
              units=units, physical_ranges=ranges)

    fps = LABEL_RATE_HZ * cfg.frames_per_step
    stim_blinks = (blinks[(blinks >= margin) & (blinks < margin + n_stim)] - margin) / sfreq
    identity = faces.make_identity(np.random.default_rng(subject["face_seed"]))
    shown = valence / total_sd if private is None else valence / total_sd + private  # (n_steps,) SD units
    frames = faces.render_faces(cfg.face_gain * shown, identity=identity,
                                frames_per_step=cfg.frames_per_step, rng=rng, blink_times_s=stim_blinks)
    save_npz(folder / FRAMES_FILE, {"frames": frames, "fps": np.float64(fps)})

    _session_xml(folder / "session.xml", subject=subject_id, trial_no=trial_no, clip=clip, clip_len_s=duration_s,
                 mean=trial["mean_valence"], sd=total_sd, rng=rng, fps=fps)
