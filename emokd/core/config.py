"""Frozen configurations and named presets.

One dataclass per stage, composed, never mutated: change a field with
:func:`dataclasses.replace`. Presets are named (``smoke``, ``book``, ``paper``)
rather than flags to flip in code.

* :class:`PrepareConfig` -- how a MAHNOB-HCI recording becomes features (the
  paper's recipe; the same for every preset).
* :class:`SynthConfig` -- the synthetic MAHNOB-like dataset: its size (the preset)
  and the planted ground truth (which channels and bands carry valence, how
  strongly, with what subject bias and noise).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import re
from dataclasses import dataclass, field

from .constants import BAND_NAMES, BANDS, EEG_CHANNELS, FEATURE_RELEASE_BANDS
from ..errors import EmokdError

#: |eeg_gain|, |nuisance_sd| and |subject_offset_sd| of a synthetic data set at most (natural-log band
#: power per SD): e^5 is a 150-fold power change per SD, beyond any EEG effect (the paper's are < 1); a few
#: SDs of it push 15 uV of background past the Biosemi range (+-262 mV), and e^710 overflows float64
MAX_LOG_POWER = 5.0
#: the spatial mixing width of a synthetic data set (m): below 1 mm the nearest electrodes (3 cm apart) no
#: longer mix at all (exp(-450)) and a width near 1e-300 squares to 0; above 1 m every channel is the same
MIXING_WIDTH_RANGE_M = (1e-3, 1.0)
#: the largest SD of a synthetic label's noise (the mean of its raters') in label units: half the valence
#: scale (+-1, emokd.io.mahnob.MAX_ABS_VALENCE); the KD study's strongest noise (2 valence SDs, one rater) is
#: 0.15. Below the bound a draw can still leave the scale: emokd.synth.synthetic.generate refuses it then,
#: naming the trial, before anything is written
MAX_ANNOTATION_NOISE = 0.5

#: Subjects of the public continuous-valence labels and their number of labelled
#: trials (Soleymani et al. 2016; 239 trials in all).
PAPER_TRIALS_PER_SUBJECT: dict[int, int] = {
    1: 19, 2: 5, 3: 13, 4: 9, 5: 13, 6: 9, 7: 13, 8: 13, 10: 5, 13: 6, 14: 13, 16: 2,
    18: 1, 19: 11, 20: 17, 21: 10, 22: 14, 23: 15, 24: 12, 25: 16, 27: 6, 28: 4, 29: 10, 30: 3,
}  # fmt: skip

PRESETS: tuple[str, ...] = ("smoke", "book", "paper")
#: what else a teacher can hand over besides its temporal features (the paper's L1 term, ``student_kd``),
#: each one more student of a fold (:mod:`emokd.training.fold`): ``output`` -- its predicted valence trace
#: as a target (output distillation, ``student_kd_output``); ``shuffled`` -- another trial's features, a
#: control with the real ones' statistics (``student_kd_shuffled``); ``self`` -- no teacher: the plain
#: student's own predictions as the target (self-training, ``student_self``)
HANDOVERS: tuple[str, ...] = ("output", "shuffled", "self")
#: the model each hand-over trains
HANDOVER_MODELS: dict[str, str] = {"output": "student_kd_output", "shuffled": "student_kd_shuffled",
                                   "self": "student_self"}
#: calibrating to a new person (``ExperimentConfig.calibration``) needs this many trials of the test subject:
#: at least 2 calibration trials (faces, labels unread) and 2 evaluation trials (EEG only) to score
MIN_CALIBRATION_TRIALS = 4
#: the book preset's epochs since 2026-12-03: each draws a random third of the training windows (a window
#: is 96 steps every 32, so a third shows each step about once); validation, the LR schedule and early
#: stopping then act three times per pass. Chosen on validation (studies/select_epoch_fraction.py)
BOOK_EPOCH_FRACTION = 1 / 3
#: the book preset students' early stop, in those epochs: 6 (two passes), the cheapest within 0.005 of
#: the best mean validation CCC (studies/results/epoch_fraction_book.json)
BOOK_STUDENT_EARLY_STOP = 6
#: the students' early stop of the book runs committed before 2026-12-03 (the KD study, the
#: real-data runs), in full-pass epochs: their benchmarks pin it (and the whole schedule of then,
#: :func:`book_full_pass_schedule`), so that a rerun reproduces them
BOOK_FULL_PASS_EARLY_STOP = 8


def _check_numbers(obj, *, positive=(), nonnegative=()) -> None:
    """Every number field of a config finite (NaN and inf refused); those named, > 0 or >= 0."""
    for f in dataclasses.fields(obj):
        v = getattr(obj, f.name)
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            continue
        if v != v or v in (float("inf"), float("-inf")):
            raise EmokdError(f"{f.name}={v!r}: need a finite number")
        if f.name in positive and v <= 0:
            raise EmokdError(f"{f.name}={v!r}: need > 0")
        if f.name in nonnegative and v < 0:
            raise EmokdError(f"{f.name}={v!r}: need >= 0")


def check_choice(name: str, value, choices) -> None:
    """EmokdError ``"<name>=<value!r>: choose one of a, b, c"`` unless ``value`` is one of ``choices``: the one
    check of every option with a fixed set of values (configs, presets, the command line's choices)."""
    if value not in choices:
        raise EmokdError(f"{name}={value!r}: choose one of {', '.join(map(str, choices))}")


@dataclass(frozen=True)
class Option:
    """How the command line sets a field of a configuration, declared with the field and nowhere else:
    ``python -m emokd run`` one of :class:`ExperimentConfig` (its options: :func:`run_options`),
    ``python -m emokd synth`` one of :class:`SynthConfig` (:func:`synth_options`).

    ``help``: the option's help text. ``choices``: the values it takes (the config's own constant, the
    one its check uses). ``flag``: the option's name after ``--`` (default: the field's, ``_`` written
    ``-``). ``metavar``: the value's name in the help. ``default``: the command line's default where it
    is not the field's (None: the field's). ``preset``: no default; unless the option is given,
    the preset's value stays. ``group``: the section of the help it is listed in (None: the command's first:
    the experiment's for ``run``, :data:`SYNTH_TRUTH_GROUP` for ``synth``).
    """

    help: str
    choices: tuple | None = None
    flag: str | None = None
    metavar: str | None = None
    default: object = None
    preset: bool = False
    group: str | None = None


def option(default=dataclasses.MISSING, *, default_factory=dataclasses.MISSING, **how):
    """A dataclass field that the command line sets (``emokd run`` on :class:`ExperimentConfig`, ``emokd synth``
    on :class:`SynthConfig`): ``how`` are the :class:`Option`'s fields."""
    return field(default=default, default_factory=default_factory, metadata={"option": Option(**how)})


@dataclass(frozen=True)
class RunOption:
    """One option of ``emokd run``: the :class:`ExperimentConfig` field it sets (``path``: ``("protocol",)``
    or, inside a part, ``("kd", "kd_weight")``), how (``option``), the field's annotation (``type``, as
    written: ``"float"``, ``"tuple[str, ...]"``) and its default. Also one option of ``emokd synth``
    (:func:`synth_options`; ``path``: ``("eeg_gain",)``, a :class:`SynthConfig` field)."""

    path: tuple[str, ...]
    option: Option
    type: str
    field_default: object

    @property
    def flag(self) -> str:
        """``--kd-weight``."""
        return "--" + (self.option.flag or self.path[-1].replace("_", "-"))

    @property
    def dest(self) -> str:
        """The attribute of the parsed arguments: ``kd_weight``."""
        return self.flag[2:].replace("-", "_")

    @property
    def default(self):
        """The command line's default: None for a :attr:`Option.preset` option (the preset decides)."""
        if self.option.preset:
            return None
        return self.field_default if self.option.default is None else self.option.default


def run_options() -> list[RunOption]:
    """Every option ``emokd run`` builds from the configuration, in :class:`ExperimentConfig`'s field order:
    the fields declared with :func:`option`, and in a part (``kd``, ``student``, ``student_train``, ...)
    the fields its ``options`` metadata names, in the order given there."""
    out = []
    for f in dataclasses.fields(ExperimentConfig):
        if "option" in f.metadata:
            default = f.default if f.default_factory is dataclasses.MISSING else f.default_factory()
            out.append(RunOption((f.name,), f.metadata["option"], f.type, default))
        if "options" in f.metadata:
            part = f.default_factory()
            types = {g.name: g.type for g in dataclasses.fields(part)}
            out += [RunOption((f.name, name), how, types[name], getattr(part, name))
                    for name, how in f.metadata["options"].items()]
    return out


def synth_options() -> list[RunOption]:
    """Every option ``emokd synth`` builds from the configuration: the :class:`SynthConfig` fields declared
    with :func:`option`, in its field order (each :attr:`Option.preset`: not given, the preset's value stays).
    ``--planted-bands``, ``--planted-channels`` (which make ``pattern``), ``--preset``, ``--seed`` and
    ``--out`` are not fields: the command line adds them by hand."""
    return [RunOption((f.name,), f.metadata["option"], f.type, f.default)
            for f in dataclasses.fields(SynthConfig) if "option" in f.metadata]


def is_device_name(device) -> bool:
    """Whether ``device`` is ``"auto"`` or a type of :data:`DEVICE_TYPES`, optionally ``:N`` (``"cuda:1"``).
    Other torch devices (``meta`` holds no data, ``xpu``) are not ones emokd runs on."""
    return isinstance(device, str) and re.fullmatch(rf"auto|({'|'.join(DEVICE_TYPES)})(:\d+)?", device) is not None


def _params_hash(obj) -> str:
    text = json.dumps(dataclasses.asdict(obj), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class PrepareConfig:
    """From a MAHNOB-HCI session to aligned arrays (the paper's recipe).

    The EEG is cropped to [stimulus start - ``before_s``, stimulus end +
    ``after_s``] (with the database's 30 s margins: [29 s, end - 25 s]),
    band-passed ``l_freq``-``h_freq`` Hz, re-referenced to the average, and turned
    into band power in ``window_s`` windows every ``hop_s``. Window k is centred on
    stimulus start + k * hop_s, i.e. on label step k; the first n_steps windows
    are kept.
    """

    sfreq: float = 256.0
    before_s: float = 1.0
    after_s: float = 5.0
    l_freq: float = 0.3
    h_freq: float = 45.0
    bands: tuple[tuple[float, float], ...] = BANDS
    band_names: tuple[str, ...] = BAND_NAMES
    window_s: float = 2.0
    hop_s: float = 0.25
    welch_s: float = 1.0
    relative: bool = True
    label_rate_hz: float = 4.0
    frames_per_step: int | None = None  # None: use every frame the session has per step

    def params_hash(self) -> str:
        """A short hash of every field: prepared trials are reused only when it matches."""
        return _params_hash(self)


@dataclass(frozen=True)
class PlantedComponent:
    """Valence modulates the power of one frequency band at some channels.

    ``lo_hz``-``hi_hz`` is the band of the added oscillatory activity (it need not
    match a feature band); ``channels`` are names from :data:`EEG_CHANNELS` or
    ``("all",)``; ``weight`` scales the effect (log power per valence SD).
    """

    lo_hz: float
    hi_hz: float
    channels: tuple[str, ...] = ("all",)
    weight: float = 1.0


def default_pattern() -> tuple[PlantedComponent, ...]:
    """Beta and gamma spread over the whole scalp, as the paper found."""
    return (PlantedComponent(18.0, 30.0), PlantedComponent(30.0, 45.0))


#: The real continuous valence labels (``lable_continous_Mahnob.mat``: 239 traces of 24
#: subjects, measured once on the public file; shared/data/mahnob-hci/README.md), whose
#: statistics :class:`SynthConfig`'s defaults copy: the SD of all values together, the share
#: of the variance that lies between trials (the variance of the trial means, weighted by
#: length, over the total), the concatenated CCC of predicting each trial's own mean, and the
#: lag-1 autocorrelation within a trace. Chapter 02 quotes them from here.
REAL_VALENCE_STATISTICS: dict[str, float] = {
    "sd": 0.07,
    "between_trial_share": 0.58,
    "trial_mean_oracle_ccc": 0.73,
    "lag1_autocorrelation": 0.98,
}

#: the sections of ``emokd synth --help`` (:func:`synth_options`; :attr:`Option.group` None is the first)
SYNTH_TRUTH_GROUP = "planted ground truth and noise (defaults: the preset's)"
SYNTH_ANNOTATION_GROUP = "annotation model: the labels annotate the latent valence (defaults: exact labels)"
SYNTH_UNLABELLED_GROUP = "paired trials without labels (issue 33: what a teacher can distil on)"


@dataclass(frozen=True)
class SynthConfig:
    """A synthetic MAHNOB-HCI-like dataset (see :mod:`emokd.synth.synthetic`).

    Sizes: ``trials_per_subject`` maps subject id -> number of labelled trials.
    Valence (4 Hz) has the statistics of the real traces (:data:`REAL_VALENCE_STATISTICS`: SD 0.07,
    58 % of the variance between trials, lag-1 autocorrelation 0.98, start at 0), on average
    over draws of the ``paper`` preset (a small preset's one draw varies around them): each of
    ``n_clips`` clips has its own mean valence, each subject an offset, and each
    trial a smooth deviation (smoothed AR(1)), all multiplied by a rise from 0. EEG: 1/f background, posterior alpha, planted
    band-power modulation (``pattern``, ``eeg_gain`` log-power per valence SD,
    times a per-channel weight drawn once per dataset), slow nuisance
    fluctuations of the same bands (``nuisance_sd``), subject bias (offset
    ``subject_offset_sd`` in log power, gain drawn from ``subject_gain_range``),
    spatial mixing between electrodes (Gaussian of their distance,
    ``mixing_width_m``), blinks, 50 Hz line noise and optional facial EMG.

    Annotation model (see :func:`emokd.synth.synthetic.annotate`): the face and the EEG
    follow the *latent* valence; the label file holds its annotation by
    ``n_raters`` raters, averaged. Each rater reports the latent trace
    ``annotation_lag_s`` late, plus smooth rater noise: a stationary AR(1) drift
    with time constant ``annotation_noise_tau_s`` and SD ``annotation_noise_sd``
    valence SDs (so the average of the raters has SD
    ``annotation_noise_sd / sqrt(n_raters)``). The defaults (no lag, no noise, one
    rater) make the labels the latent trace exactly, as before this model existed.

    Face-only content (``face_private_sd``, in valence SDs; 0 = off): the face
    shows an extra expression drift unrelated to valence (a stationary AR(1) with
    time constant ``face_private_tau_s``), which the EEG does not carry and the
    annotators do not rate. It makes part of what the face teacher sees, and so
    of its features, modality-specific: the case in which the modality focusing
    hypothesis (Xue et al. 2023) predicts that cross-modal distillation helps less.

    Unlabelled paired trials (``unlabelled_per_subject``; 0 = none): each subject also watches this
    many more clips, recorded like the others (EEG, face frames, session.xml) but left out of the label
    file, as the real database's 288 stimulus sessions without continuous valence are. Their latent
    valence is saved apart, for scoring only (:data:`emokd.io.mahnob.UNLABELLED_LATENT_FILE`).
    They are drawn from their own random stream after everything else, so the labelled trials' files
    are the same with or without them.

    The fields declared with :func:`option` are the options of ``python -m emokd synth``, with this help, in
    this order (:func:`synth_options`; each one left out keeps the preset's value).
    """

    trials_per_subject: dict[int, int] = field(default_factory=lambda: {1: 2, 2: 2, 3: 2})
    clip_length_range_s: tuple[float, float] = (35.0, 117.25)
    n_clips: int = 20
    margin_s: float = 30.0  # recording before and after the stimulus
    sfreq: float = 256.0
    frames_per_step: int = option(4, preset=True,  # the paper's video: 16 per step (64 fps); 4 keeps files small
                                  help="face frames per 4 Hz label step (paper: 16)")
    # valence (units of the public labels)
    valence_between_sd: float = 0.054  # SD of trial means (58 % of the variance)
    valence_within_sd: float = 0.051  # SD of the smooth within-trial deviation
    valence_mean: float = 0.015
    valence_ar: float = 0.975  # within-trial deviation: AR(1) at 4 Hz ...
    valence_smooth_steps: float = 0.8  # ... smoothed by a Gaussian (SD, in 4 Hz steps)
    valence_rise_s: float = 4.0  # traces start at 0 and rise with this time constant
    # EEG: planted truth and noise
    pattern: tuple[PlantedComponent, ...] = field(default_factory=default_pattern)
    eeg_gain: float = option(0.45, preset=True,  # at channel weight 1
                             help="log band power per valence SD")
    planted_power_ratio: float = 1.0  # planted : background power in the planted band
    nuisance_sd: float = option(0.7, preset=True, help="SD of slow non-emotional log-power fluctuations")
    subject_offset_sd: float = option(0.5, preset=True,  # of each planted band
                                      help="SD of per-subject log-power offsets (subject bias)")
    subject_gain_range: tuple[float, float] = (0.5, 1.5)
    background_uv: float = 15.0  # RMS of the 1/f background
    alpha_uv: float = 12.0  # RMS of posterior alpha at O1/O2
    mixing_width_m: float = option(0.025, preset=True,  # between electrodes
                                   help="volume conduction width (m)")
    blink_rate_hz: float = option(0.25, preset=True, help="blinks per second")
    blink_uv: float = 120.0
    line_noise_uv: float = option(4.0, preset=True, help="50 Hz line noise amplitude (uV)")
    emg_leakage: float = option(0.0, preset=True,
                                help="facial EMG in frontal/temporal gamma following expression (0 = off)")
    # face frames
    face_gain: float = 1.0  # expression = face_gain * valence / valence SD (before identity gain)
    face_private_sd: float = option(0.0, preset=True, help="face-only expression drift unrelated to valence, in "
                                                          "valence SDs (default 0 = off)")
    face_private_tau_s: float = option(10.0, preset=True,  # AR(1) at 4 Hz
                                       help="its time constant in s (default 10)")
    # annotation model: the label file holds annotations of the latent valence
    annotation_lag_s: float = option(0.0, preset=True, group=SYNTH_ANNOTATION_GROUP,
                                     help="raters report the latent valence this many seconds late (default 0)")
    annotation_noise_sd: float = option(0.0, preset=True, group=SYNTH_ANNOTATION_GROUP,  # 0: exact labels
                                        help="each rater's smooth noise, in valence SDs (default 0)")
    annotation_noise_tau_s: float = option(5.0, preset=True, group=SYNTH_ANNOTATION_GROUP,  # AR(1) at 4 Hz
                                           help="time constant of that drift-like noise, s (default 5)")
    n_raters: int = option(1, preset=True, group=SYNTH_ANNOTATION_GROUP,
                           help="raters averaged into the label trace (default 1)")
    # paired trials whose labels are not in the label file (source (a) of issue 33)
    unlabelled_per_subject: int = option(0, preset=True, group=SYNTH_UNLABELLED_GROUP, metavar="N",
                                         help="N more sessions per subject with EEG and face frames but no row in "
                                              "the label file (default 0); their latent valence goes to "
                                              "latent_valence_unlabelled.npz, for scoring only")

    #: fields added after data sets were generated, with the value that does what the code did before them:
    #: left out of :meth:`to_json` at that value, so a data set's ``ground_truth.json`` is still its own
    ADDED_LATER = {"unlabelled_per_subject": 0}

    def __post_init__(self):
        _check_numbers(self, positive=("sfreq", "mixing_width_m", "valence_rise_s", "margin_s", "n_clips"),
                       nonnegative=("valence_between_sd", "valence_within_sd", "valence_smooth_steps",
                                    "planted_power_ratio", "nuisance_sd", "subject_offset_sd", "background_uv",
                                    "alpha_uv", "blink_rate_hz", "blink_uv", "line_noise_uv", "emg_leakage",
                                    "face_private_sd", "annotation_lag_s", "annotation_noise_sd"))
        for name in ("face_private_tau_s", "annotation_noise_tau_s"):
            if not getattr(self, name) > 0:
                raise EmokdError(f"{name}={getattr(self, name)!r}: need > 0")
        for name in ("eeg_gain", "nuisance_sd", "subject_offset_sd"):  # log band power (natural log)
            if abs(getattr(self, name)) > MAX_LOG_POWER:
                raise EmokdError(f"{name}={getattr(self, name)!r}: need |{name}| <= {MAX_LOG_POWER:g} (log band "
                                 f"power per SD; more drives the EEG past the Biosemi range)")
        if not MIXING_WIDTH_RANGE_M[0] <= self.mixing_width_m <= MIXING_WIDTH_RANGE_M[1]:
            raise EmokdError(f"mixing_width_m={self.mixing_width_m!r}: need {MIXING_WIDTH_RANGE_M[0]:g} to "
                             f"{MIXING_WIDTH_RANGE_M[1]:g} m (electrodes are 0.03-0.19 m apart)")
        if isinstance(self.n_raters, bool) or not isinstance(self.n_raters, int) or self.n_raters < 1:
            raise EmokdError(f"n_raters={self.n_raters!r}: need a whole number >= 1")
        if not -1.0 < self.valence_ar < 1.0:
            raise EmokdError(f"valence_ar={self.valence_ar!r}: need -1 < ar < 1")
        if not all(0.0 <= g < float("inf") for g in self.subject_gain_range):
            raise EmokdError(f"subject_gain_range={self.subject_gain_range!r}: need finite gains >= 0")
        if not self.trials_per_subject:
            raise EmokdError("trials_per_subject is empty")
        for s, n in self.trials_per_subject.items():
            if not (isinstance(s, int) and s >= 1) or not (isinstance(n, int) and 1 <= n <= 20):
                raise EmokdError(f"trials_per_subject: subject {s!r} with {n!r} trials (need 1..20)")
        self._check_unlabelled()
        lo, hi = self.clip_length_range_s
        if not 10.0 <= lo <= hi:
            raise EmokdError(f"clip_length_range_s={self.clip_length_range_s!r}: need 10 <= lo <= hi")
        if not self.annotation_lag_s < lo / 2:  # before the lag has passed a rater reports the first value
            raise EmokdError(f"annotation_lag_s={self.annotation_lag_s!r}: need < {lo / 2:g} s, half the shortest "
                             f"clip (clip_length_range_s[0]={lo:g}), or most labels are the trace's first value")
        # the labels average n_raters raters: their noise SD, in label units (emokd.synth.synthetic.annotate)
        noise = (self.annotation_noise_sd * math.hypot(self.valence_between_sd, self.valence_within_sd)
                 / math.sqrt(self.n_raters))
        if noise > MAX_ANNOTATION_NOISE:
            raise EmokdError(f"annotation_noise_sd={self.annotation_noise_sd!r}: need a label noise of at most "
                             f"{MAX_ANNOTATION_NOISE:g} on the valence scale -1..1 (here {noise:.3g}), or the labels "
                             "leave the scale and prepare refuses them")
        if self.frames_per_step < 1:
            raise EmokdError(f"frames_per_step={self.frames_per_step!r}: need >= 1")
        for comp in self.pattern:
            if not 0.0 < comp.lo_hz < comp.hi_hz < self.sfreq / 2:
                raise EmokdError(
                    f"planted band {comp.lo_hz:g}-{comp.hi_hz:g} Hz: need 0 < lo < hi < {self.sfreq / 2:g} Hz"
                )
            unknown = [c for c in comp.channels if c != "all" and c not in EEG_CHANNELS]
            if unknown:
                raise EmokdError(f"planted channels {unknown} are not EEG channel names ({', '.join(EEG_CHANNELS)})")

    def _check_unlabelled(self) -> None:
        """Each subject watches each clip once, at one of 20 positions (trial_no 2..40)."""
        n = self.unlabelled_per_subject
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise EmokdError(f"unlabelled_per_subject={n!r}: need a whole number >= 0")
        most = max(self.trials_per_subject.values())
        room = min(20, int(self.n_clips))
        if most + n > room:
            raise EmokdError(f"unlabelled_per_subject={n!r}: a subject with {most} labelled trials has room for "
                             f"{max(0, room - most)} more (each subject sees each of n_clips={self.n_clips} clips "
                             "once, at most 20 in all)")

    @property
    def n_trials(self) -> int:
        """Labelled trials (the label file's rows)."""
        return sum(self.trials_per_subject.values())

    def to_json(self) -> dict:
        """The fields as a dict, without a field of :attr:`ADDED_LATER` at its earlier value (see
        :meth:`TrainConfig.to_json`): a data set generated before the field existed is still this one."""
        d = dataclasses.asdict(self)
        d["trials_per_subject"] = {str(k): v for k, v in self.trials_per_subject.items()}
        for name, before in self.ADDED_LATER.items():
            if d[name] == before:
                del d[name]
        return d


def synth_config(preset: str = "book", **overrides) -> SynthConfig:
    """The synthetic dataset of a named preset, with optional field overrides.

    ``smoke``: 3 subjects x 2 short trials (seconds to generate; for tests).
    ``book``: 8 subjects x 4 trials (what the book runs; a few minutes end to end).
    ``paper``: the 24 subjects of the public labels with their real trial counts
    (239 trials).
    """
    if preset == "smoke":
        base = SynthConfig(trials_per_subject={1: 2, 2: 2, 3: 2}, clip_length_range_s=(35.0, 40.0))
    elif preset == "book":
        base = SynthConfig(trials_per_subject={s: 4 for s in range(1, 9)})
    elif preset == "paper":
        base = SynthConfig(trials_per_subject=dict(PAPER_TRIALS_PER_SUBJECT))
    else:
        raise EmokdError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
    return dataclasses.replace(base, **overrides) if overrides else base


def book_full_pass_schedule(cfg: ExperimentConfig) -> ExperimentConfig:
    """``cfg`` (of the book preset) with the training of the book preset before 2026-12-03: full-pass
    epochs; students at most 40, plateau patience 3, early stop 8; the frozen-backbone teacher at most 30,
    patience 5, early stop 8. The KD study and the real-data book runs were made with it; their benchmarks
    pin it so that a rerun reproduces them."""
    students = dataclasses.replace(cfg.student_train, max_epochs=40, lr_patience=3,
                                   early_stop=BOOK_FULL_PASS_EARLY_STOP, epoch_fraction=1.0)
    teacher = cfg.teacher_train
    if cfg.teacher.frozen_backbone:
        teacher = dataclasses.replace(students, max_epochs=30, early_stop=8, lr_patience=5)
    return dataclasses.replace(cfg, student_train=students, teacher_train=teacher)


def preset_from_env(default: str = "book") -> str:
    """The preset named by the environment variable ``EMOKD_PRESET`` (else ``default``)."""
    preset = os.environ.get("EMOKD_PRESET", default)
    if preset not in PRESETS:
        raise EmokdError(f"EMOKD_PRESET={preset!r} is not a preset; choose one of {', '.join(PRESETS)}")
    return preset


# --------------------------------------------------------------------------------------
# Models, training, distillation and the experiment (issue: teacher, student, KD)
# --------------------------------------------------------------------------------------

#: the students' networks (:mod:`emokd.nn.models`): the paper's TCN, a bidirectional LSTM
STUDENT_ARCHS: tuple[str, ...] = ("tcn", "bilstm")
ARCHS: tuple[str, ...] = ("teacher", *STUDENT_ARCHS)
PROTOCOLS: tuple[str, ...] = ("loso", "trs")
#: how input features are z-scored (see :func:`emokd.training.datasets.fit_normalisers`)
NORMALISATIONS: tuple[str, ...] = ("none", "train", "subject")
TRS_FOLDS: tuple[str, ...] = ("shuffled", "contiguous")
FEATURE_LOSSES: tuple[str, ...] = ("l1", "mse", "cosine")
BACKBONES: tuple[str, ...] = ("frozen", "train")
FRAME_AUGMENTS: tuple[str, ...] = ("none", "frame", "frame+flip")
#: the torch device types emokd trains and predicts on (``"auto"`` picks one; ``cuda:N`` names a GPU)
DEVICE_TYPES: tuple[str, ...] = ("cpu", "cuda", "mps")
#: the largest KD weight: the CCC loss is at most 2, and beside a feature term a million times larger it
#: is lost in float32 rounding (relative precision 6e-8), so the student no longer learns the task; far
#: larger weights overflow float32 (3.4e38) and train on inf
MAX_KD_WEIGHT = 1e6
#: the section of ``emokd run --help`` that lists the fields of the two regimes where a teacher can pay
REGIMES_GROUP = "where a teacher pays: labels withheld, a new person calibrated"
#: the section of ``emokd run --help`` that lists the controls of issue 34 (what the student reads, chance)
CONTROLS_GROUP = "controls: a subset of the student's EEG features, labels permuted (chance level)"
#: the bands of the student's input ``x``, in its column order, by data format: prepared data
#: (:func:`emokd.training.datasets.student_inputs`: :data:`BAND_NAMES` x 32 channels, band-major) and the
#: public feature release (:data:`FEATURE_RELEASE_BANDS` x 32 channels, band-major); within a band the
#: channels are in :data:`EEG_CHANNELS` order
STUDENT_BANDS: dict[str, tuple[str, ...]] = {"prepared": BAND_NAMES, "features": FEATURE_RELEASE_BANDS}


def eeg_columns(data_format: str, eeg_bands=(), drop_channels=()) -> tuple[int, ...]:
    """The columns of the student's input ``x`` that a selection keeps, ascending: those of the bands
    ``eeg_bands`` (names of :data:`STUDENT_BANDS` ``[data_format]``; empty: every band) at the channels not
    in ``drop_channels`` (names of :data:`EEG_CHANNELS`). Column ``32 * b + c`` is band ``b``, channel ``c``."""
    check_choice("data_format", data_format, tuple(STUDENT_BANDS))
    n_chans = len(EEG_CHANNELS)
    return tuple(b * n_chans + c for b, band in enumerate(STUDENT_BANDS[data_format])
                 if not eeg_bands or band in eeg_bands
                 for c, channel in enumerate(EEG_CHANNELS) if channel not in drop_channels)


@dataclass(frozen=True)
class ModelConfig:
    """One network (see :mod:`emokd.nn.models`).

    ``arch``: ``"teacher"`` (frame CNN + TCN on face frames), ``"tcn"`` (the paper's
    student: TCN on band power) or ``"bilstm"`` (a bidirectional-LSTM student).
    The TCN follows the paper: channels [128, 128], kernel 3, dilations 1 and 2,
    weight norm, PReLU, dropout 0.1, causal. ``cnn="small"`` is a ResNet-style net
    for 40x40 grey faces that trains on a CPU; ``cnn="ir50"`` is the paper's
    ResNet50-IR backbone (512-d), usable when ``cnn_weights`` names a state dict.

    ``backbone`` (teacher only): ``"train"`` trains the frame CNN from scratch with
    the TCN, end to end, in every fold; ``"frozen"`` loads a pretrained CNN and
    freezes it, as the paper does (:mod:`emokd.nn.backbone`; ``cnn_weights``: a file
    of ``python -m emokd pretrain-face``, default the one emokd ships; for ``ir50``
    your state dict). A frozen backbone's per-frame embeddings are computed once
    per data set and cached (:mod:`emokd.nn.embeddings`); only the TCN and the head
    learn per fold. ``frame_augment`` says how the cached path samples a step's
    input in training: ``"none"`` (the middle frame, as at evaluation), ``"frame"``
    (a random frame of the step) or ``"frame+flip"`` (and a random horizontal flip
    per window); random crops are not cached.
    """

    arch: str = "tcn"
    n_inputs: int = 192  # band-power features per step (6 bands x 32 channels); unused by the teacher
    tcn_channels: tuple[int, ...] = (128, 128)
    kernel_size: int = 3
    dropout: float = 0.1
    lstm_hidden: int = 64  # bilstm: the feature sequence has 2 * lstm_hidden features
    lstm_layers: int = 1
    frame_size: int = 40  # side of the face crop fed to the CNN (pixels)
    cnn: str = "small"  # "small" | "ir50"
    cnn_width: int = 16  # channels of the small CNN's first stage
    cnn_features: int = 64  # per-frame embedding of the small CNN (ir50: 512)
    cnn_weights: str | None = None  # ir50: path to a state dict of the backbone; frozen small: emokd's file
    backbone: str = "train"  # teacher: "train" (end to end, per fold) or "frozen" (pretrained, cached embeddings)
    frame_augment: str = "frame+flip"  # frozen backbone: "none" | "frame" | "frame+flip"

    def __post_init__(self):
        check_choice("arch", self.arch, ARCHS)
        check_choice("backbone", self.backbone, BACKBONES)
        check_choice("frame_augment", self.frame_augment, FRAME_AUGMENTS)
        check_choice("cnn", self.cnn, ("small", "ir50"))
        if not self.tcn_channels or min(self.tcn_channels) < 1 or self.kernel_size < 2:
            raise EmokdError(f"tcn_channels={self.tcn_channels!r}, kernel_size={self.kernel_size!r}: "
                             "need channels >= 1, kernel >= 2")
        if not 0.0 <= self.dropout < 1.0:
            raise EmokdError(f"dropout={self.dropout!r}: need 0 <= dropout < 1")

    @property
    def frozen_backbone(self) -> bool:
        """The frame CNN is loaded pretrained and never trains (``backbone="frozen"``)."""
        return self.backbone == "frozen"

    @classmethod
    def from_json(cls, d: dict) -> "ModelConfig":
        """Inverse of ``dataclasses.asdict`` after a JSON round trip (lists back to tuples)."""
        return cls(**{**d, "tcn_channels": tuple(d.get("tcn_channels", cls.tcn_channels))})


@dataclass(frozen=True)
class TrainConfig:
    """How one network is trained (see :mod:`emokd.training.train`).

    Adam (``lr``, ``weight_decay``); ReduceLROnPlateau on validation CCC
    (``lr_patience`` epochs, ``lr_factor``, floor ``lr_min``); early stopping after
    ``early_stop`` epochs without a better validation CCC; the best epoch by
    validation CCC is kept. Sequences are windows of ``window_steps`` label steps
    every ``hop_steps`` (plus one window aligned to the end of the trial).

    ``reload_best_each_epoch``: at the end of every epoch (after the LR
    schedule's step) the model goes back to the best weights so far, so the next
    epoch starts from them (the released code's ``load_best_at_each_epoch``; the
    optimiser's state is kept, as there). Off by default.
    """

    lr: float = 1e-5
    lr_min: float = 1e-6
    weight_decay: float = 1e-4
    batch_size: int = 2
    max_epochs: int = 200
    lr_patience: int = 5
    lr_factor: float = 0.5
    early_stop: int = 20
    window_steps: int = 96  # 24 s at 4 Hz
    hop_steps: int = 32  # 8 s
    grad_clip: float | None = None
    reload_best_each_epoch: bool = False
    epoch_fraction: float = 1.0  # share of the training windows each epoch draws (1: all of them)

    #: fields added after runs were stored, with the value that does what the code did before them
    ADDED_LATER = {"epoch_fraction": 1.0}

    def __post_init__(self):
        _check_numbers(self, nonnegative=("weight_decay", "lr_patience"))
        if self.grad_clip is not None and not 0.0 < self.grad_clip < float("inf"):
            raise EmokdError(f"grad_clip={self.grad_clip!r}: need a finite number > 0 (or None)")
        for name in ("lr", "batch_size", "max_epochs", "window_steps", "hop_steps", "early_stop"):
            if getattr(self, name) <= 0:
                raise EmokdError(f"{name}={getattr(self, name)!r}: need > 0")
        if not 0.0 <= self.lr_min <= self.lr:
            raise EmokdError(f"lr_min={self.lr_min!r}: need 0 <= lr_min <= lr={self.lr!r}")
        if not 0.0 < self.lr_factor < 1.0:
            raise EmokdError(f"lr_factor={self.lr_factor!r}: need 0 < factor < 1")
        if not 0.0 < self.epoch_fraction <= 1.0:
            raise EmokdError(f"epoch_fraction={self.epoch_fraction!r}: need 0 < fraction <= 1")

    def to_json(self) -> dict:
        """The fields as a dict, without a field of :attr:`ADDED_LATER` that has its earlier value: a
        configuration stored before the field existed is then the same configuration, and its runs and
        checkpoints still resume."""
        d = dataclasses.asdict(self)
        for name, before in self.ADDED_LATER.items():
            if d[name] == before:
                del d[name]
        return d


@dataclass(frozen=True)
class KDConfig:
    """Feature-level distillation: loss = (1 - CCC) + ``kd_weight`` * D(teacher, student).

    ``feature_loss`` D: ``"l1"`` (the paper), ``"mse"`` or ``"cosine"`` (1 - cosine
    similarity per step). ``projection``: ``"auto"`` adds a learned linear map from
    the student's features to the teacher's only when their sizes differ;
    ``"linear"`` always; ``"none"`` never (sizes must match).
    """

    kd_weight: float = 1.0
    feature_loss: str = "l1"
    projection: str = "auto"

    def __post_init__(self):
        _check_numbers(self)
        if not 0 <= self.kd_weight <= MAX_KD_WEIGHT:
            raise EmokdError(f"kd_weight={self.kd_weight!r}: need 0 <= weight <= {MAX_KD_WEIGHT:g}")
        check_choice("feature_loss", self.feature_loss, FEATURE_LOSSES)
        check_choice("projection", self.projection, ("auto", "linear", "none"))


@dataclass(frozen=True)
class ExperimentConfig:
    """Teacher -> knowledge -> student -> KD student over the folds of a protocol.

    ``protocol``: ``"loso"`` (one subject per test fold) or ``"trs"`` (``n_folds``
    folds of trials shuffled with the seed). In each fold the remaining trials are
    shuffled with the seed and split ``1 - val_fraction`` / ``val_fraction`` into
    training and validation. ``student`` is trained with and without
    distillation (``kd``) from the same initial weights.

    ``trs_folds``: ``"shuffled"`` (default; the paper's text) or ``"contiguous"``
    (the released code: contiguous blocks of trials in subject order, so most
    subjects appear in training and test).

    ``normalisation`` -- how the student's inputs are z-scored
    (:func:`emokd.training.datasets.fit_normalisers`): ``"train"`` (default) with the
    pooled statistics of the fold's training trials; ``"none"`` as they are (the
    released code: relative band power as it is); ``"subject"`` each subject with
    the statistics of all its own trials. For a test subject ``subject`` reads its
    test recordings' features (never their labels): a calibration step that needs
    unlabelled data of the new subject. ``face_normalisation``: the same choice
    for the facial features of the feature release (the teacher's input; the
    released code z-scores its facial landmarks: ``"train"``). Face frames are
    always scaled to mean 0.5, SD 0.5. Labels are never transformed.

    ``kd_select``: a grid of KD weights (must hold 0, the plain student); per
    fold the weight with the best validation CCC is chosen and its student
    scored as ``student_kd_selected``. Weight 0 is ``student``, ``kd.kd_weight``
    is ``student_kd``, any other is ``student_kd_w<w>`` (shared with ``kd_sweep``).
    Empty: off.

    ``face_teacher_max_epochs``: on the feature release the teacher (a TCN on
    facial features) trains with the student's settings
    (:func:`on_feature_release`), with at most this many epochs (None: the
    student's).

    Controls (issue 34). ``eeg_bands`` and ``drop_channels``: the student (and
    its ridge reference, ``ref_ridge_student``) reads only the bands named (of
    the data's: :data:`STUDENT_BANDS`; empty: every band) at the channels not
    dropped (names of :data:`EEG_CHANNELS`; empty: none dropped), in the data's
    column order (:func:`eeg_columns`; the names are kept in that order). With a
    selection ``student.n_inputs`` is the number of columns it keeps. The
    selection is applied once, where a run loads its trials
    (:func:`emokd.training.folddata.run_trials`). ``permute_labels``: the seed
    of a permutation of each subject's labelled trials' valence traces among
    its trials (:func:`emokd.training.folddata.permute_trial_labels`), made
    before anything reads them: every model, reference and score of the run
    sees the permuted labels (the pipeline's chance level). None: off.
    """

    # The fields declared with option() (and the parts' fields their "options" name) are the options of
    # `python -m emokd run`, with this help, in this order (run_options(); the command line adds none by hand)
    preset: str = option("book", choices=PRESETS, help="data size and training budget (default: book)")
    protocol: str = option("loso", choices=PROTOCOLS, help="loso (default) or trs")
    seed: int = option(0, help="random seed of data, partitions and training (default: 0)")
    n_folds: int = option(10, preset=True, help="TRS folds (default: 10; smoke: 3); with --protocol trs only")
    val_fraction: float = 0.2
    teacher: ModelConfig = field(default_factory=lambda: ModelConfig(arch="teacher"), metadata={"options": {
        "backbone": Option(flag="teacher-backbone", choices=BACKBONES, default="frozen",
                           help="frozen: the pretrained face CNN, frozen, its embeddings cached, only the TCN trains "
                                "per fold (default, as the paper); train: the face CNN trains end to end in every "
                                "fold")}})
    student: ModelConfig = field(default_factory=ModelConfig, metadata={"options": {
        "arch": Option(flag="student", choices=STUDENT_ARCHS, help="student network (default tcn)")}})
    teacher_train: TrainConfig = field(default_factory=TrainConfig)
    student_train: TrainConfig = field(default_factory=TrainConfig, metadata={"options": {
        "early_stop": Option(metavar="N", preset=True,
                             help="override the students' early stop (epochs without a better validation CCC; on "
                                  "the feature release also the teacher's)"),
        "lr_patience": Option(metavar="N", preset=True,
                              help="override the students' plateau patience (epochs without a better validation "
                                   "CCC before the learning rate halves; on the feature release also the "
                                   "teacher's)"),
        "epoch_fraction": Option(metavar="F", preset=True,
                                 help="override the students' share of the training windows per epoch (1: a full "
                                      "pass; book: 1/3; on the feature release also the teacher's). The book runs "
                                      "made before 2026-12-03: --max-epochs 40 --early-stop 8 --lr-patience 3 "
                                      "--epoch-fraction 1")}})
    kd: KDConfig = field(default_factory=KDConfig, metadata={"options": {
        "kd_weight": Option(help="weight of the feature loss (paper: 1)"),
        "feature_loss": Option(choices=FEATURE_LOSSES, help="distance of features (paper: l1)")}})
    # extra KD students, one per kd_weight ("student_kd_w<w>")
    kd_sweep: tuple[float, ...] = option((), metavar="W,...",
                                         help="extra KD students with these weights, e.g. 0.1,0.3,3")
    device: str = option("auto", help="auto (CUDA, then MPS, then CPU), cpu, cuda, ...")
    data_format: str = "prepared"  # "prepared": emokd.io.prepare output; "features": the public feature release
    teacher_input: str = "frames"  # "frames" (teacher arch "teacher") or "face" (facial features, arch "tcn")
    trs_folds: str = option("shuffled", choices=TRS_FOLDS, preset=True,  # "contiguous": the released code
                            help="TRS folds: shuffled (default) or contiguous blocks in subject order (the released "
                                 "code); with --protocol trs only")
    normalisation: str = option("train", choices=NORMALISATIONS, preset=True,  # student inputs
                                help="student inputs: none, train (pooled training statistics) or subject (each "
                                     "subject's own statistics, the test subject's from its unlabelled recordings); "
                                     "default: the preset's (paper: none, else train)")
    face_normalisation: str = option("train", choices=NORMALISATIONS, preset=True,  # facial features of the release
                                     help="the same for the facial features of the feature release (default: train)")
    # KD weights to choose from on validation (must hold 0); () = off
    kd_select: tuple[float, ...] = option((), metavar="W,...",
                                          help="choose the KD weight per fold on validation CCC from this grid (must "
                                               "hold 0, the plain student), e.g. 0,0.1,0.3,1,3; scored as "
                                               "student_kd_selected")
    face_teacher_max_epochs: int | None = None  # feature release: the teacher's epoch budget (None: the student's)
    # share of each training subject's training trials whose labels are read
    labelled_fraction: float = option(1.0, metavar="P", group=REGIMES_GROUP,
                                      help="read the labels of only this share of each training subject's training "
                                           "trials (at least one each, drawn with the seed; recorded per fold); the "
                                           "teacher trains on them, the taught students' teacher term also acts on "
                                           "the others (default 1: every label)")
    handover: tuple[str, ...] = option((), metavar="H,...", group=REGIMES_GROUP,  # HANDOVERS
                                       help="more students, each taught another way (besides student_kd, the paper's "
                                            "feature term): output (the teacher's predicted trace), shuffled (another "
                                            "trial's features, a control), self (the plain student's own "
                                            "predictions: self-training)")
    # LOSO: share of the test subject's trials that calibrate (labels unread); 0 = off
    calibration: float = option(0.0, metavar="C", group=REGIMES_GROUP,
                                help="LOSO: this share of the test subject's trials is its calibration session "
                                     "(face and EEG, labels never read; the rest are scored); subjects with fewer "
                                     "than 4 trials are left out; adds student_calib_norm (default 0: off)")
    # controls (issue 34): the student reads a subset of its EEG features; the labels are permuted
    eeg_bands: tuple[str, ...] = option((), metavar="BAND,...", group=CONTROLS_GROUP,  # STUDENT_BANDS
                                        help="the student (and its ridge reference) reads only these bands: of "
                                             "prepared data delta, theta, alpha, low_beta, beta, gamma; of the "
                                             "feature release theta, alpha, beta, gamma (default: every band)")
    drop_channels: tuple[str, ...] = option((), metavar="CH,...", group=CONTROLS_GROUP,  # EEG_CHANNELS
                                            help="the student (and its ridge reference) reads no feature of these "
                                                 "EEG channels, named as in the BDF files, e.g. Fp1,Fp2,F7,F8,T7,T8 "
                                                 "(default: none dropped)")
    permute_labels: int | None = option(None, metavar="SEED", group=CONTROLS_GROUP,
                                        help="chance level: every labelled trial's valence trace is replaced by "
                                             "that of a trial of the same subject (a permutation within each "
                                             "subject drawn with SEED; resampled onto the trial's length) before "
                                             "anything reads it: teacher, students, references and scores "
                                             "(default: off)")

    # shorter student budgets read off each student's one training (its best epoch up to then); () = off
    student_budgets: tuple[int, ...] = option((), metavar="E,...",
                                              help="also score every student as it stood after these many epochs "
                                                   "(each below the students' maximum), as student_e<E>, "
                                                   "student_kd_e<E>, ...: the same models as runs with "
                                                   "--student-max-epochs E, from one training (default: none)")

    #: fields added after runs were stored, with the value that does what the code did before them
    ADDED_LATER = {"labelled_fraction": 1.0, "handover": (), "calibration": 0.0, "eeg_bands": (),
                   "drop_channels": (), "permute_labels": None, "student_budgets": ()}

    def __post_init__(self):
        check_choice("preset", self.preset, PRESETS)
        check_choice("protocol", self.protocol, PROTOCOLS)
        _check_numbers(self)
        if not is_device_name(self.device):
            raise EmokdError(f"device={self.device!r}: choose auto, {', '.join(DEVICE_TYPES)} or cuda:N")
        if self.n_folds < 2:
            raise EmokdError(f"n_folds={self.n_folds!r}: need >= 2")
        if not 0.0 < self.val_fraction < 1.0:
            raise EmokdError(f"val_fraction={self.val_fraction!r}: need 0 < fraction < 1")
        if not all(0.0 <= w < float("inf") for w in self.kd_sweep):  # NaN fails both comparisons
            raise EmokdError(f"kd_sweep={self.kd_sweep!r}: weights must be finite and >= 0")
        if not all(w <= MAX_KD_WEIGHT for w in self.kd_sweep):
            raise EmokdError(f"kd_sweep={self.kd_sweep!r}: weights must be <= {MAX_KD_WEIGHT:g}")
        check_choice("trs_folds", self.trs_folds, TRS_FOLDS)
        for name in ("normalisation", "face_normalisation"):
            check_choice(name, getattr(self, name), NORMALISATIONS)
        if self.kd_select and (0 not in self.kd_select or not all(0 <= w <= MAX_KD_WEIGHT for w in self.kd_select)
                               or len(set(self.kd_select)) != len(self.kd_select)):  # NaN fails 0 <= w
            raise EmokdError(f"kd_select={self.kd_select!r}: distinct finite weights 0..{MAX_KD_WEIGHT:g}, including "
                             "0 (the plain student)")
        self._check_student_names()
        if self.face_teacher_max_epochs is not None and self.face_teacher_max_epochs < 1:
            raise EmokdError(f"face_teacher_max_epochs={self.face_teacher_max_epochs!r}: need >= 1 or None")
        check_choice("data_format", self.data_format, ("prepared", "features"))
        check_choice("teacher_input", self.teacher_input, ("frames", "face"))
        self._check_regime()
        self._check_controls()
        self._check_student_budgets()
        if (self.teacher.arch == "teacher") != (self.teacher_input == "frames") or self.student.arch == "teacher":
            raise EmokdError(f"teacher arch {self.teacher.arch!r} on {self.teacher_input!r}, student arch "
                             f"{self.student.arch!r}: a frame teacher is arch 'teacher', a teacher on facial "
                             "features and every student are 'tcn' or 'bilstm'")

    def _check_regime(self) -> None:
        """The fields of the two regimes where a teacher can pay: scarce labels and a new person's calibration."""
        if isinstance(self.labelled_fraction, bool) or not 0.0 < self.labelled_fraction <= 1.0:
            raise EmokdError(f"labelled_fraction={self.labelled_fraction!r}: need 0 < fraction <= 1 (1: every "
                             "training trial labelled)")
        if isinstance(self.handover, (list, str)):  # a list (from JSON) or one name: the tuple it means
            object.__setattr__(self, "handover", (self.handover,) if isinstance(self.handover, str)
                               else tuple(self.handover))
        if not isinstance(self.handover, tuple) or any(h not in HANDOVERS for h in self.handover):
            raise EmokdError(f"handover={self.handover!r}: choose any of {', '.join(HANDOVERS)}")
        if len(set(self.handover)) != len(self.handover):
            raise EmokdError(f"handover={self.handover!r}: name each hand-over once")
        if isinstance(self.calibration, bool) or not 0.0 <= self.calibration < 1.0:
            raise EmokdError(f"calibration={self.calibration!r}: need 0 <= share < 1 (0: no calibration)")
        if self.calibration and self.protocol != "loso":
            raise EmokdError(f"calibration={self.calibration!r} with protocol {self.protocol!r}: calibrating to a "
                             "new person needs LOSO (one subject per test fold)")

    def _check_controls(self) -> None:
        """The controls of issue 34: the student's EEG selection (names of the data's bands and of
        :data:`EEG_CHANNELS`, each once, kept in the data's order; ``student.n_inputs`` then the columns kept)
        and the permutation's seed."""
        bands = STUDENT_BANDS[self.data_format]
        where = "prepared data" if self.data_format == "prepared" else "the feature release"
        for name, known, what in (("eeg_bands", bands, f"the bands of {where}"),
                                  ("drop_channels", EEG_CHANNELS, "EEG channel names")):
            value = getattr(self, name)
            if isinstance(value, (list, str)):  # a list (from JSON) or one name: the tuple it means
                value = (value,) if isinstance(value, str) else tuple(value)
            if not isinstance(value, tuple) or any(v not in known for v in value):
                raise EmokdError(f"{name}={getattr(self, name)!r}: choose any of {', '.join(known)} ({what})")
            if len(set(value)) != len(value):
                raise EmokdError(f"{name}={value!r}: name each once")
            object.__setattr__(self, name, tuple(v for v in known if v in value))  # the data's order
        if len(self.drop_channels) == len(EEG_CHANNELS):
            raise EmokdError(f"drop_channels={self.drop_channels!r}: every channel dropped; the student needs one")
        if self.eeg_bands or self.drop_channels:  # the student's input size follows from the selection
            n = len(eeg_columns(self.data_format, self.eeg_bands, self.drop_channels))
            if self.student.n_inputs != n:
                object.__setattr__(self, "student", dataclasses.replace(self.student, n_inputs=n))
        p = self.permute_labels
        if p is not None and (isinstance(p, bool) or not isinstance(p, int) or p < 0):
            raise EmokdError(f"permute_labels={p!r}: need a whole number >= 0 (the permutation's seed) or None (off)")

    def _check_student_budgets(self) -> None:
        """``student_budgets``: distinct whole numbers below the students' ``max_epochs``, kept sorted; not with
        what reads a student at its full budget (self-training's targets, the calibrated student, the KD weight
        chosen on validation), whose shorter-budget versions one training cannot give."""
        value = self.student_budgets
        if isinstance(value, (list, int)) and not isinstance(value, bool):  # from JSON, or one number
            value = (value,) if isinstance(value, int) else tuple(value)
        top = self.student_train.max_epochs
        if (not isinstance(value, tuple) or len(set(value)) != len(value)
                or not all(isinstance(b, int) and not isinstance(b, bool) and 1 <= b < top for b in value)):
            raise EmokdError(f"student_budgets={self.student_budgets!r}: need distinct whole numbers from 1 to the "
                             f"students' max_epochs - 1 = {top - 1}")
        object.__setattr__(self, "student_budgets", tuple(sorted(value)))
        if value:
            uses_full = [what for what, on in (("handover self", "self" in self.handover),
                                               ("calibration", bool(self.calibration)),
                                               ("kd_select", bool(self.kd_select))) if on]
            if uses_full:
                raise EmokdError(f"student_budgets={self.student_budgets!r} with {', '.join(uses_full)}: these read "
                                 "the plain student (or every student's validation score) at the full budget; run "
                                 "each budget with --student-max-epochs instead")

    @property
    def budget_students(self) -> tuple[str, ...]:
        """The models ``student_budgets`` adds: ``<student>_e<E>`` for every student trained, per budget."""
        return tuple(f"{name}_e{b}" for b in self.student_budgets for name in self.trained_students)

    @property
    def extra_kd_weights(self) -> tuple[float, ...]:
        """The KD weights a fold trains besides 0 (``student``) and ``kd.kd_weight`` (``student_kd``): the
        sweep, then the selection grid's weights not trained otherwise; weight ``w`` is ``student_kd_w<w:g>``."""
        extra = list(self.kd_sweep)
        extra += [w for w in self.kd_select if w != 0 and w != self.kd.kd_weight and w not in extra]
        return tuple(extra)

    @property
    def trained_students(self) -> tuple[str, ...]:
        """Every student a fold trains (``student_calib_norm`` is the plain student, re-read): ``student``,
        ``student_kd``, the extra KD weights' ``student_kd_w<w>`` and the hand-overs' students."""
        return (("student", "student_kd") + tuple(f"student_kd_w{w:g}" for w in self.extra_kd_weights)
                + tuple(HANDOVER_MODELS[h] for h in HANDOVERS if h in self.handover))

    @property
    def student_columns(self) -> tuple[int, ...] | None:
        """The columns of the student's input that ``eeg_bands`` and ``drop_channels`` keep
        (:func:`eeg_columns`), or None when they keep every column (no selection)."""
        if not (self.eeg_bands or self.drop_channels):
            return None
        return eeg_columns(self.data_format, self.eeg_bands, self.drop_channels)

    def _check_student_names(self) -> None:
        """Each extra KD student is named ``student_kd_w<w:g>`` (emokd.training.fold: the sweep, then the selection
        grid's weights not trained otherwise): two weights of one name would overwrite each other's model
        and leave a results table that no report can read."""
        names = [f"student_kd_w{w:g}" for w in self.extra_kd_weights]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            field_ = "kd_sweep" if len(set(names[:len(self.kd_sweep)])) < len(self.kd_sweep) else "kd_select"
            raise EmokdError(f"{field_}={getattr(self, field_)!r}: two weights would both be model "
                             f"{', '.join(twice)} (named to 6 digits); give each weight once")

    @property
    def teacher_reads_embeddings(self) -> bool:
        """The teacher reads the frozen backbone's cached frame embeddings (:mod:`emokd.nn.embeddings`),
        computed once per data set, instead of the frames."""
        return self.teacher_input == "frames" and self.teacher.frozen_backbone

    @property
    def students(self) -> tuple[str, ...]:
        """The hand-over models besides ``student_kd`` (:data:`HANDOVER_MODELS`), in :data:`HANDOVERS` order,
        and ``student_calib_norm`` (the plain student with the calibration trials' statistics) when calibrating."""
        out = tuple(HANDOVER_MODELS[h] for h in HANDOVERS if h in self.handover)
        return out + (("student_calib_norm",) if self.calibration else ())

    def to_json(self) -> dict:
        """The fields as a dict (without a field of :attr:`ADDED_LATER` at its earlier value: see
        :meth:`TrainConfig.to_json`)."""
        d = dataclasses.asdict(self)
        for name in ("teacher_train", "student_train"):
            d[name] = getattr(self, name).to_json()
        for name, before in self.ADDED_LATER.items():
            if d[name] == before:
                del d[name]
        return d

    @classmethod
    def from_json(cls, d: dict) -> "ExperimentConfig":
        d = dict(d)
        for name in ("teacher", "student"):
            d[name] = ModelConfig.from_json(d[name])
        for name, sub in (("teacher_train", TrainConfig), ("student_train", TrainConfig), ("kd", KDConfig)):
            d[name] = sub(**d[name])
        d["kd_sweep"] = tuple(d.get("kd_sweep", ()))
        d["kd_select"] = tuple(d.get("kd_select", ()))
        d["handover"] = tuple(d.get("handover", ()))
        for name in ("eeg_bands", "drop_channels", "student_budgets"):
            d[name] = tuple(d.get(name, ()))
        return cls(**d)


def on_feature_release(cfg: ExperimentConfig) -> ExperimentConfig:
    """The same experiment on the public feature release (:mod:`emokd.io.features`).

    The teacher becomes a TCN on the 327 facial features (the release has no
    frames), the student a TCN on the 128 EEG features (or the subset of
    ``cfg.eeg_bands`` and ``cfg.drop_channels``). The teacher trains with
    the student's settings (the frame teacher's are for a CNN on frames), with at
    most ``cfg.face_teacher_max_epochs`` epochs when that is set.
    """
    teacher_train = cfg.student_train
    if cfg.face_teacher_max_epochs is not None:
        teacher_train = dataclasses.replace(teacher_train, max_epochs=cfg.face_teacher_max_epochs)
    return dataclasses.replace(
        cfg, data_format="features", teacher_input="face",
        teacher=dataclasses.replace(cfg.student, arch="tcn", n_inputs=327),
        # every column of the release's EEG features (a selection of eeg_bands, drop_channels keeps fewer)
        student=dataclasses.replace(cfg.student, n_inputs=len(eeg_columns("features"))),
        teacher_train=teacher_train)


def experiment_config(preset: str = "book", protocol: str = "loso", seed: int = 0, *, backbone: str = "frozen",
                      **overrides) -> ExperimentConfig:
    """The experiment of a named preset.

    ``backbone="frozen"`` (the default): the teacher's face CNN is pretrained on
    other identities and frozen, as in the paper (:mod:`emokd.nn.backbone`); per fold
    only its TCN and head train, on cached embeddings; in ``book`` for at most 30
    epochs, early stopping after 8 (the cheapest budget within 0.005 of the best
    validation CCC: ``studies/select_teacher_budget.py``).
    ``backbone="train"``: the frame CNN trains end to end in every fold (emokd's
    earlier teacher; in ``book`` and ``smoke`` a narrower CNN at lr 3e-4, at most
    30 epochs, early stopping after 10).

    ``paper``: the settings of the authors' released code (``main.py``,
    ``experiment.py``, ``utils/trainer.py``), each a field: Adam lr 1e-5 (floor
    1e-6), weight decay 1e-4, batch 2, ReduceLROnPlateau on validation CCC
    (patience 5, factor 0.5), at most 15 epochs for the students and 30 for the
    teacher (also on the feature release: ``face_teacher_max_epochs``), early
    stopping after 20 (so it never fires for the students), the best weights
    reloaded at the end of every epoch (``reload_best_each_epoch``), no
    normalisation of the student's inputs (``normalisation="none"``), facial
    features z-scored with training statistics (``face_normalisation="train"``),
    labels on their raw scale, an 80/20 trial-level validation split. Kept sound
    where the released code has a defect: TRS folds shuffled (its contiguous
    blocks: ``trs_folds="contiguous"``); teacher knowledge extracted at the label
    rate, per window (its 64 fps, 500-frame chunks are not reproduced).
    ``book`` and ``smoke`` train faster so that the
    book runs on a laptop CPU (explicit deviations, stated in the README and the
    book): students at lr 1e-3, batch 8, gradient-norm clipping at 1, at most 40
    passes over the windows in epochs of a random third of them
    (``epoch_fraction``; 120 epochs), plateau patience 9 and early stopping after
    6 such epochs (chosen on validation: ``studies/select_epoch_fraction.py``;
    the book runs and studies committed before 2026-12-03 used full-pass epochs,
    patience 3 and early stop 8: :func:`book_full_pass_schedule`); the frozen-backbone
    teacher in full passes, at most 30, patience 5, early stop 8; the
    end-to-end teacher with a narrower frame CNN (``cnn_width`` 8), at lr 3e-4, at
    most 30 full-pass epochs, early stopping after 10. At lr 1e-3 that teacher's CCC stayed
    near 0 in 2 of 8 LOSO folds of the book data (seed 0), its predictions
    swinging over +-5 while valence moves by 0.1: when the predictions' variance
    dwarfs the labels', CCC and its gradient vanish (a trap of the CCC loss); at
    3e-4 it learned in those folds. ``smoke`` stops after a few epochs (tests
    only; its numbers mean nothing).
    """
    check_choice("backbone", backbone, BACKBONES)
    if preset == "paper":
        train = TrainConfig(max_epochs=15, reload_best_each_epoch=True)
    elif preset == "book":  # epochs of a third of the windows: chosen on validation (select_epoch_fraction.py)
        train = TrainConfig(lr=1e-3, lr_min=1e-5, batch_size=8, max_epochs=120, lr_patience=9,
                            early_stop=BOOK_STUDENT_EARLY_STOP, grad_clip=1.0, epoch_fraction=BOOK_EPOCH_FRACTION)
    elif preset == "smoke":
        train = TrainConfig(lr=1e-3, lr_min=1e-5, batch_size=8, max_epochs=3, lr_patience=1, early_stop=2,
                            grad_clip=1.0)
    else:
        raise EmokdError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
    n_folds = 3 if preset == "smoke" else 10  # the smoke data has only 6 trials
    # the frozen backbone is emokd's pretrained CNN (emokd/data/face_backbone.json: cnn_width 8)
    teacher, teacher_train = ModelConfig(arch="teacher", backbone=backbone, cnn_width=8), train
    paper = {}
    if preset == "paper":  # the released code: 30 teacher epochs; EEG as it is, facial features z-scored
        teacher_train = dataclasses.replace(train, max_epochs=30)
        paper = {"normalisation": "none", "face_normalisation": "train", "face_teacher_max_epochs": 30}
        if backbone == "train":
            teacher = ModelConfig(arch="teacher", backbone="train")
    if backbone == "train" and preset != "paper":  # the end-to-end teacher costs most of a run: full passes
        teacher = ModelConfig(arch="teacher", cnn_width=8, backbone="train")
        teacher_train = dataclasses.replace(train, lr=min(train.lr, 3e-4), max_epochs=min(train.max_epochs, 30),
                                            early_stop=10, lr_patience=min(train.lr_patience, 3),
                                            epoch_fraction=1.0)
    elif backbone == "frozen" and preset == "book":  # chosen on validation (select_teacher_budget.py); full
        # passes: epochs of a third were no cheaper for it (select_epoch_fraction.py --check)
        teacher_train = dataclasses.replace(train, max_epochs=30, early_stop=8, lr_patience=5, epoch_fraction=1.0)
    base = ExperimentConfig(preset=preset, protocol=protocol, seed=seed, n_folds=n_folds, teacher=teacher,
                            student=ModelConfig(arch="tcn"), teacher_train=teacher_train, student_train=train,
                            **paper)
    return dataclasses.replace(base, **overrides) if overrides else base
