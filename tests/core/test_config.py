"""Presets: the `paper` preset equals the released code's settings; the new options keep `book` as it was."""

import dataclasses

import pytest

from emokd.core.config import (BOOK_FULL_PASS_EARLY_STOP, ExperimentConfig, TrainConfig, experiment_config,
                          on_feature_release)
from emokd.errors import EmokdError


def test_paper_preset_is_the_released_code():
    """Literal values read from sucv/Visual_to_EEG_Cross_Modal_KD_for_CER (main.py, experiment.py, utils/trainer.py)."""
    cfg = experiment_config("paper", "loso")
    for train, epochs in ((cfg.student_train, 15), (cfg.teacher_train, 30)):
        assert train.lr == 1e-5 and train.lr_min == 1e-6 and train.weight_decay == 1e-4
        assert train.batch_size == 2
        assert train.lr_patience == 5 and train.lr_factor == 0.5
        assert train.max_epochs == epochs and train.early_stop == 20
        assert train.reload_best_each_epoch is True
        assert train.grad_clip is None
        assert train.window_steps == 96 and train.hop_steps == 32
    assert cfg.normalisation == "none" and cfg.face_normalisation == "train"
    assert cfg.val_fraction == 0.2 and cfg.seed == 0
    assert cfg.kd.kd_weight == 1.0 and cfg.kd.feature_loss == "l1"
    assert cfg.student.tcn_channels == (128, 128) and cfg.student.kernel_size == 3 and cfg.student.dropout == 0.1
    # kept sound where the released code is not: shuffled TRS folds (contiguous is an option)
    assert cfg.trs_folds == "shuffled"
    rel = on_feature_release(cfg)
    assert rel.teacher_train.max_epochs == 30 and rel.student_train.max_epochs == 15
    assert rel.teacher_train.lr == 1e-5 and rel.teacher_train.reload_best_each_epoch


def test_book_preset_unchanged_by_the_new_options():
    cfg = experiment_config("book", "loso")
    assert cfg.normalisation == cfg.face_normalisation == "train"
    assert cfg.trs_folds == "shuffled" and cfg.kd_select == () and cfg.face_teacher_max_epochs is None
    assert not cfg.student_train.reload_best_each_epoch and not cfg.teacher_train.reload_best_each_epoch
    assert cfg.student_train == TrainConfig(lr=1e-3, lr_min=1e-5, batch_size=8, max_epochs=120, lr_patience=9,
                                            early_stop=6, grad_clip=1.0, epoch_fraction=1 / 3)
    rel = on_feature_release(cfg)
    assert rel.teacher_train == rel.student_train == cfg.student_train


def test_book_training_is_the_one_validation_chose():
    """studies/select_epoch_fraction.py's rule, recomputed from its committed rows: per role, the fewest
    passes within the tolerance of the best mean validation CCC. The students train with that row's budget;
    the teacher keeps its full-pass budget, which the check measured cheaper in seconds (the amendment)."""
    import json
    from pathlib import Path

    from emokd.evaluation.selection import TOLERANCE  # the rule's tolerance (0.005)

    results = Path(__file__).resolve().parents[2] / "studies" / "results"
    result = json.loads((results / "epoch_fraction_book.json").read_text())
    assert result["tolerance"] == TOLERANCE  # the study recorded the tolerance it chose with
    FRACTION, THIRD_LONGEST = 1 / 3, result["third_longest"]  # the study's epochs of a third, its longest budgets
    cfg = experiment_config("book", "loso")
    chosen = {}
    for role in ("teacher", "students"):
        rows = result["roles"][role]["rows"]
        best = max(r["mean_best_val_ccc"] for r in rows.values())
        ok = {k: r for k, r in rows.items() if r["mean_best_val_ccc"] >= best - TOLERANCE}
        chosen[role] = min(ok, key=lambda k: (ok[k]["passes"], -ok[k]["mean_best_val_ccc"]))
        assert chosen[role] == result["roles"][role]["chosen"]
    students = result["roles"]["students"]["rows"][chosen["students"]]
    assert cfg.student_train.epoch_fraction == FRACTION and abs(students["epoch_fraction"] - FRACTION) < 1e-4
    assert (cfg.student_train.max_epochs, cfg.student_train.early_stop) == (students["max_epochs"],
                                                                             students["early_stop"])
    assert cfg.student_train.lr_patience == THIRD_LONGEST["students"][2]  # the run's (not replayable)
    # the teacher: the rule chose epochs of a third, but in the check they cost more seconds than full passes,
    # and today's full-pass budget is within the tolerance too: it is kept
    rows = result["roles"]["teacher"]["rows"]
    today = rows["today 30/8"]
    assert today["mean_best_val_ccc"] >= max(r["mean_best_val_ccc"] for r in rows.values()) - TOLERANCE
    check = json.loads((results / "epoch_fraction_check_book.json").read_text())
    assert check["runs"]["rule"]["teacher"]["epoch_seconds"] > check["runs"]["before"]["teacher"]["epoch_seconds"]
    assert (cfg.teacher_train.epoch_fraction, cfg.teacher_train.max_epochs, cfg.teacher_train.early_stop,
            cfg.teacher_train.lr_patience) == (1.0, 30, 8, 5)
    assert BOOK_FULL_PASS_EARLY_STOP == 8  # what the runs committed before used (their benchmarks pin it)


def test_new_fields_round_trip_and_are_checked():
    cfg = experiment_config("book", "trs", normalisation="subject", face_normalisation="none",
                            trs_folds="contiguous", kd_select=(0.0, 0.3, 1.0), face_teacher_max_epochs=7)
    import json

    assert ExperimentConfig.from_json(json.loads(json.dumps(cfg.to_json()))) == cfg
    for bad, match in [({"normalisation": "zscore"}, "'zscore'"), ({"face_normalisation": "all"}, "'all'"),
                       ({"trs_folds": "blocks"}, "'blocks'"), ({"kd_select": (0.3, 1.0)}, "including 0"),
                       ({"kd_select": (0.0, 0.0)}, "distinct"), ({"face_teacher_max_epochs": 0}, "0")]:
        with pytest.raises(EmokdError, match=match):
            dataclasses.replace(cfg, **bad)


def test_a_field_added_later_is_stored_only_where_it_changes_what_runs():
    """epoch_fraction came after runs were stored: at 1 (a full pass, what ran before it existed) a config's
    JSON is what it was, so the fold records committed before it still resume; any other value is stored."""
    import json
    from pathlib import Path

    from emokd.__main__ import experiment_config_from_args, build_parser
    from emokd.training.fold import as_json
    from emokd.training.runfolder import check_same

    full = TrainConfig(max_epochs=3)
    assert "epoch_fraction" not in full.to_json() and TrainConfig(**full.to_json()) == full
    third = dataclasses.replace(full, epoch_fraction=0.25)
    assert third.to_json()["epoch_fraction"] == 0.25 and TrainConfig(**third.to_json()) == third
    cfg = dataclasses.replace(experiment_config("book", "loso"), student_train=third)
    assert ExperimentConfig.from_json(json.loads(json.dumps(cfg.to_json()))) == cfg
    # a fold record committed before the field: the paper preset's, rebuilt from its command, is the same
    rec = Path(__file__).resolve().parents[2] / "results/mahnob-features/paper_loso_seed1/folds/fold_00.json"
    stored = json.loads(rec.read_text())
    args = build_parser().parse_args(["run", "--preset", "paper", "--protocol", "loso", "--seed", "1", "--data", "D",
                                 "--out", "o"])
    now = as_json(on_feature_release(experiment_config_from_args(args)))
    check_same(rec, stored["config"], "x", now, "x")  # raises when they differ
    with pytest.raises(EmokdError, match="epoch_fraction"):
        shorter = on_feature_release(experiment_config_from_args(args))
        shorter = dataclasses.replace(shorter, student_train=dataclasses.replace(shorter.student_train,
                                                                                 epoch_fraction=0.5))
        check_same(rec, stored["config"], "x", as_json(shorter), "x")


# ------------------------------------------------------ presets, validation, JSON


def test_synthetic_presets_sizes():
    from emokd.core.config import PAPER_TRIALS_PER_SUBJECT, synth_config

    smoke, book_, paper = synth_config("smoke"), synth_config("book"), synth_config("paper")
    assert smoke.trials_per_subject == {1: 2, 2: 2, 3: 2} and smoke.clip_length_range_s == (35.0, 40.0)
    assert book_.trials_per_subject == {s: 4 for s in range(1, 9)} and book_.n_trials == 32
    assert paper.trials_per_subject == PAPER_TRIALS_PER_SUBJECT and paper.n_trials == 239
    assert len(paper.trials_per_subject) == 24
    assert synth_config("smoke", eeg_gain=1.5).eeg_gain == 1.5  # overrides are fields
    # everything else is the same in every preset: only the size differs
    same = {f: getattr(book_, f) for f in ("eeg_gain", "nuisance_sd", "pattern", "frames_per_step", "sfreq")}
    assert all({f: getattr(c, f) for f in same} == same for c in (smoke, paper))


def test_smoke_preset_trains_a_few_epochs_on_three_folds():
    cfg = experiment_config("smoke", "trs")
    assert cfg.n_folds == 3 and cfg.student_train.max_epochs == 3 and cfg.student_train.early_stop == 2
    assert cfg.teacher.backbone == "frozen" and cfg.teacher.cnn_width == 8
    e2e = experiment_config("smoke", "loso", backbone="train")
    assert e2e.teacher.backbone == "train" and e2e.teacher_train.lr == 3e-4 and e2e.teacher_train.early_stop == 10


@pytest.mark.parametrize("call, match", [
    (lambda: experiment_config("huge"), "unknown preset 'huge'"),
    (lambda: experiment_config("book", "kfold"), "protocol='kfold'"),
    (lambda: experiment_config("book", backbone="imagenet"), "backbone='imagenet'"),
    (lambda: __import__("emokd.core.config").core.config.synth_config("huge"), "unknown preset 'huge'"),
    (lambda: experiment_config("book", n_folds=1), "n_folds=1"),
    (lambda: experiment_config("book", val_fraction=1.0), "val_fraction=1.0"),
    (lambda: experiment_config("book", kd_sweep=(0.5, -1.0)), r"kd_sweep=\(0.5, -1.0\)"),
    (lambda: experiment_config("book", data_format="csv"), "data_format='csv'"),
    (lambda: experiment_config("book", device="meta"), "device='meta': choose auto, cpu, cuda, mps or cuda:N"),
    (lambda: experiment_config("book", device="cuda:-1"), "device='cuda:-1'"),
])
def test_bad_experiment_values_are_named(call, match):
    with pytest.raises(EmokdError, match=match):
        call()


@pytest.mark.parametrize("overrides, match", [
    ({"kd_select": (0.0, float("nan"))}, r"kd_select=\(0.0, nan\): distinct finite weights"),
    ({"kd_select": (0.0, -0.5)}, r"kd_select=\(0.0, -0.5\)"),
    ({"kd_sweep": (0.1, 0.1)}, r"kd_sweep=\(0.1, 0.1\): two weights would both be model student_kd_w0.1 "),
    ({"kd_sweep": (0.1, 0.1000001)}, r"kd_sweep=.*student_kd_w0.1 \(named to 6 digits\)"),
    ({"kd_sweep": (0.3,), "kd_select": (0.0, 0.3000001)}, r"kd_select=.*student_kd_w0.3 "),
])
def test_kd_grids_whose_models_clash_are_refused_at_construction(overrides, match):
    """``kd_select`` with NaN was refused only after the teacher trained; a weight given twice in
    ``kd_sweep`` (or two that print alike) made two models of one name, and no report could read the run."""
    experiment_config("smoke", kd_sweep=(0.1, 0.3), kd_select=(0.0, 0.1, 1.0, 3.0))  # shared weights are fine
    with pytest.raises(EmokdError, match=match):
        experiment_config("smoke", **overrides)


@pytest.mark.parametrize("cls, kwargs, match", [
    ("ModelConfig", {"arch": "mlp"}, "arch='mlp'"),
    ("ModelConfig", {"cnn": "vgg"}, "cnn='vgg'"),
    ("ModelConfig", {"dropout": 1.0}, "dropout=1.0"),
    ("ModelConfig", {"kernel_size": 1}, "kernel_size=1"),
    ("ModelConfig", {"frame_augment": "crop"}, "frame_augment='crop'"),
    ("TrainConfig", {"lr": 0.0}, "lr=0.0"),
    ("TrainConfig", {"lr": 1e-3, "lr_min": 1e-2}, "lr_min=0.01"),
    ("TrainConfig", {"lr_factor": 1.0}, "lr_factor=1.0"),
    ("TrainConfig", {"grad_clip": float("inf")}, "grad_clip=inf"),
    ("TrainConfig", {"batch_size": 0}, "batch_size=0"),
    ("TrainConfig", {"weight_decay": float("nan")}, "weight_decay=nan"),
    ("KDConfig", {"kd_weight": -1.0}, "kd_weight=-1.0"),
    ("KDConfig", {"feature_loss": "kl"}, "feature_loss='kl'"),
    ("KDConfig", {"projection": "mlp"}, "projection='mlp'"),
    ("SynthConfig", {"n_raters": 0}, "n_raters=0"),
    ("SynthConfig", {"valence_ar": 1.0}, "valence_ar=1.0"),
    ("SynthConfig", {"trials_per_subject": {1: 21}}, "subject 1 with 21 trials"),
    ("SynthConfig", {"clip_length_range_s": (5.0, 40.0)}, r"clip_length_range_s=\(5.0, 40.0\)"),
    ("SynthConfig", {"frames_per_step": 0}, "frames_per_step=0"),
    ("SynthConfig", {"line_noise_uv": -1.0}, "line_noise_uv=-1.0"),
])
def test_bad_field_values_are_named(cls, kwargs, match):
    import emokd.core.config

    with pytest.raises(EmokdError, match=match):
        getattr(emokd.core.config, cls)(**kwargs)


def test_bad_planted_pattern_is_named():
    from emokd.core.config import PlantedComponent, synth_config

    with pytest.raises(EmokdError, match="planted band 30-200 Hz"):
        synth_config("smoke", pattern=(PlantedComponent(30.0, 200.0),))
    with pytest.raises(EmokdError, match=r"planted channels \['Q7'\]"):
        synth_config("smoke", pattern=(PlantedComponent(8.0, 12.0, ("Fp1", "Q7")),))


@pytest.mark.parametrize("preset", ["smoke", "book", "paper"])
@pytest.mark.parametrize("backbone", ["frozen", "train"])
def test_every_preset_round_trips_through_json(preset, backbone):
    import json

    for cfg in (experiment_config(preset, "trs", seed=3, backbone=backbone),
                on_feature_release(experiment_config(preset, "loso", backbone=backbone))):
        text = json.dumps(cfg.to_json())
        assert ExperimentConfig.from_json(json.loads(text)) == cfg


def test_synth_config_json_and_prepare_hash():
    import json

    from emokd.core.config import PrepareConfig, synth_config

    d = json.loads(json.dumps(synth_config("book").to_json()))
    assert d["trials_per_subject"] == {str(s): 4 for s in range(1, 9)}  # JSON keys are strings
    assert d["pattern"] == [{"lo_hz": 18.0, "hi_hz": 30.0, "channels": ["all"], "weight": 1.0},
                            {"lo_hz": 30.0, "hi_hz": 45.0, "channels": ["all"], "weight": 1.0}]
    assert PrepareConfig().params_hash() == PrepareConfig().params_hash()
    assert PrepareConfig(h_freq=40.0).params_hash() != PrepareConfig().params_hash()


def test_preset_from_env(monkeypatch):
    from emokd.core.config import preset_from_env

    monkeypatch.delenv("EMOKD_PRESET", raising=False)
    assert preset_from_env("smoke") == "smoke"
    monkeypatch.setenv("EMOKD_PRESET", "paper")
    assert preset_from_env() == "paper"
    monkeypatch.setenv("EMOKD_PRESET", "Book")
    with pytest.raises(EmokdError, match="EMOKD_PRESET='Book'"):
        preset_from_env()


def test_the_annotation_noise_bound_is_on_the_labels_scale():
    """The labels average the raters: the bound is on their noise, half the scale prepare reads; the KD
    study's strongest noise (2 valence SDs: 0.149 in label units) is inside it."""
    from emokd.core.config import MAX_ANNOTATION_NOISE, synth_config
    from emokd.io.mahnob import MAX_ABS_VALENCE

    assert MAX_ANNOTATION_NOISE == MAX_ABS_VALENCE / 2
    assert synth_config("smoke", annotation_noise_sd=2.0).annotation_noise_sd == 2.0
    with pytest.raises(EmokdError, match=r"annotation_noise_sd=7.0: need a label noise of at most 0.5 .*here 0.52\)"):
        synth_config("smoke", annotation_noise_sd=7.0)
    assert synth_config("smoke", annotation_noise_sd=7.0, n_raters=4).n_raters == 4  # 0.26 after averaging


def test_one_property_says_whether_the_teacher_reads_cached_embeddings():
    from emokd.core.config import experiment_config, on_feature_release

    frozen = experiment_config("smoke", "loso", 0)
    assert frozen.teacher.frozen_backbone and frozen.teacher_reads_embeddings
    trained = experiment_config("smoke", "loso", 0, backbone="train")
    assert not trained.teacher.frozen_backbone and not trained.teacher_reads_embeddings
    assert not on_feature_release(frozen).teacher_reads_embeddings  # the teacher reads facial features
    assert "teacher_reads_embeddings" not in frozen.to_json()  # derived, not a setting


def test_every_fixed_choice_is_refused_in_one_form():
    """One check for every option with a fixed set of values: the same message shape wherever it is."""
    from emokd.core.config import ModelConfig, check_choice
    from emokd.errors import EmokdError

    check_choice("x", "b", ("a", "b"))
    for make, match in ((lambda: check_choice("x", "c", ("a", "b")), r"^x='c': choose one of a, b$"),
                        (lambda: ModelConfig(cnn="vgg"), r"^cnn='vgg': choose one of small, ir50$"),
                        (lambda: experiment_config("book", normalisation="z"),
                         r"^normalisation='z': choose one of none, train, subject$")):
        with pytest.raises(EmokdError, match=match):
            make()


def test_run_options_declare_the_choices_the_config_checks():
    """An option's choices are the constant the config's own check uses: a value outside them is refused by
    the configuration with the same list."""
    from emokd.core.config import ExperimentConfig, KDConfig, run_options

    parts = {"kd": KDConfig}
    for o in run_options():
        if o.option.choices is None or (len(o.path) == 2 and o.path[0] not in parts):
            continue
        build = ExperimentConfig if len(o.path) == 1 else parts[o.path[0]]
        with pytest.raises(EmokdError, match=rf"{o.path[-1]}='bogus': choose one of {', '.join(o.option.choices)}$"):
            build(**{o.path[-1]: "bogus"})
        assert o.field_default in o.option.choices


def test_every_run_option_names_a_field_and_its_default():
    from emokd.core.config import experiment_config, run_options

    cfg = experiment_config("book")
    for o in run_options():
        part = cfg
        for name in o.path:
            part = getattr(part, name)  # the field exists
        assert o.option.help and o.type in {"int", "int | None", "float", "str", "tuple[float, ...]", "tuple[str, ...]",
                                              "tuple[int, ...]"}
        # None is a default only where the field may be None (permute_labels: off)
        assert o.default is None if o.option.preset or o.type.endswith("| None") else o.default is not None


#: the SynthConfig fields `emokd synth` sets (issue 32, item 4: before, a hand-written list in the parser)
SYNTH_FIELDS = {"eeg_gain", "nuisance_sd", "subject_offset_sd", "emg_leakage", "line_noise_uv", "blink_rate_hz",
                "mixing_width_m", "face_private_sd", "face_private_tau_s", "frames_per_step", "annotation_lag_s",
                "annotation_noise_sd", "annotation_noise_tau_s", "n_raters", "unlabelled_per_subject"}


def test_every_synth_option_is_a_synth_config_field_of_its_type():
    from emokd.core.config import (
        SYNTH_ANNOTATION_GROUP,
        SYNTH_UNLABELLED_GROUP,
        SynthConfig,
        synth_config,
        synth_options,
    )

    options = synth_options()
    assert [o.path for o in options] == [(f.name,) for f in dataclasses.fields(SynthConfig) if f.name in SYNTH_FIELDS]
    assert {o.path[-1] for o in options} == SYNTH_FIELDS  # none lost, none added (pattern & co. are not options)
    default = SynthConfig()
    for o in options:
        (name,) = o.path
        value = getattr(default, name)
        assert type(value) is {"int": int, "float": float}[o.type], name  # the annotation is the value's type
        assert o.field_default == value and o.option.preset and o.default is None  # not given: the preset's
        assert o.option.help and o.option.choices is None and o.option.flag is None
        assert o.flag == "--" + name.replace("_", "-") and o.dest == name
        assert o.option.group in (None, SYNTH_ANNOTATION_GROUP, SYNTH_UNLABELLED_GROUP)
        assert (o.option.group == SYNTH_ANNOTATION_GROUP) == (name.startswith("annotation_") or name == "n_raters")
        # the option's type reads back the field's values, and the configuration takes them
        assert synth_config("smoke", **{name: type(value)(str(value))}) == synth_config("smoke")
    assert [o.path[-1] for o in options if o.option.group == SYNTH_UNLABELLED_GROUP] == ["unlabelled_per_subject"]


def test_synth_options_leave_the_data_sets_configuration_alone():
    """Field metadata is not data: a data set's ground_truth.json config (to_json, ADDED_LATER) is as before."""
    from emokd.core.config import SynthConfig, synth_config

    d = synth_config("smoke").to_json()
    assert list(d) == [f.name for f in dataclasses.fields(SynthConfig) if f.name not in SynthConfig.ADDED_LATER]
    assert d["eeg_gain"] == 0.45 and d["frames_per_step"] == 4 and d["n_raters"] == 1
    assert synth_config("smoke", unlabelled_per_subject=2).to_json()["unlabelled_per_subject"] == 2


# ------------------------------------------------------ the controls of issue 34


def test_eeg_columns_are_band_major_in_the_datas_order():
    from emokd.core.config import STUDENT_BANDS, eeg_columns
    from emokd.core.constants import BAND_NAMES, EEG_CHANNELS, FEATURE_RELEASE_BANDS
    from emokd.io.features import EEG_BANDS

    assert STUDENT_BANDS == {"prepared": BAND_NAMES, "features": FEATURE_RELEASE_BANDS}
    assert EEG_BANDS is FEATURE_RELEASE_BANDS  # the release's bands are declared once
    assert eeg_columns("prepared") == tuple(range(192)) and eeg_columns("features") == tuple(range(128))
    # a plain loop over the band-major layout: column 32 * band + channel
    want = [32 * b + c for b in (2, 3) for c in range(32) if EEG_CHANNELS[c] not in ("Fp1", "T8")]
    assert eeg_columns("features", ("beta", "gamma"), ("T8", "Fp1")) == tuple(want)
    assert eeg_columns("prepared", ("theta",)) == tuple(range(32, 64))
    assert eeg_columns("prepared", (), ("O2",)) == tuple(c for c in range(192) if c % 32 != 31)


def test_a_feature_subset_sets_the_students_input_size_and_is_stored_only_when_given():
    import json

    from emokd.training.fold import as_json

    book = experiment_config("book")
    assert (book.eeg_bands, book.drop_channels, book.permute_labels, book.student_columns) == ((), (), None, None)
    for name in ("eeg_bands", "drop_channels", "permute_labels"):  # a run without them: its config as before
        assert name not in book.to_json() and name not in on_feature_release(book).to_json()
    assert book.student.n_inputs == 192 and on_feature_release(book).student.n_inputs == 128
    sub = experiment_config("book", eeg_bands=("gamma", "beta"), drop_channels=("T7",), permute_labels=4)
    assert sub.eeg_bands == ("beta", "gamma") and sub.student.n_inputs == 2 * 31  # the data's order
    rel = on_feature_release(sub)
    assert rel.student.n_inputs == 2 * 31 and rel.teacher.n_inputs == 327
    assert len(rel.student_columns) == 62
    assert on_feature_release(experiment_config("book", eeg_bands=("theta", "alpha"))).student.n_inputs == 64
    stored = as_json(rel)
    assert (stored["eeg_bands"], stored["drop_channels"], stored["permute_labels"]) == (["beta", "gamma"], ["T7"], 4)
    assert ExperimentConfig.from_json(json.loads(json.dumps(rel.to_json()))) == rel
    back = ExperimentConfig.from_json({**book.to_json(), "eeg_bands": ["alpha"]})  # lists from JSON
    assert back.eeg_bands == ("alpha",) and back.student.n_inputs == 32


@pytest.mark.parametrize("overrides, match", [
    ({"eeg_bands": ("alfa",)}, (r"^eeg_bands=\('alfa',\): choose any of delta, theta, alpha, low_beta, beta, gamma "
                                r"\(the bands of prepared data\)$")),
    ({"eeg_bands": ("beta", "beta")}, r"^eeg_bands=\('beta', 'beta'\): name each once$"),
    ({"drop_channels": ("Fp1", "FP2")}, r"^drop_channels=\('Fp1', 'FP2'\): choose any of Fp1, AF3, .* \(EEG channel"),
    ({"drop_channels": ("Cz", "Cz")}, r"^drop_channels=\('Cz', 'Cz'\): name each once$"),
    ({"drop_channels": __import__("emokd.core.constants").core.constants.EEG_CHANNELS},
     r"^drop_channels=\('Fp1', .*\): every channel dropped; the student needs one$"),
    ({"permute_labels": -1}, r"^permute_labels=-1: need a whole number >= 0 \(the permutation's seed\) or None"),
    ({"permute_labels": True}, r"^permute_labels=True: need a whole number"),
    ({"permute_labels": 1.5}, r"^permute_labels=1.5: need a whole number"),
])
def test_bad_control_values_are_named_in_one_line(overrides, match):
    with pytest.raises(EmokdError, match=match):
        experiment_config("book", **overrides)


def test_student_budgets_are_stored_only_when_given_and_sorted():
    import json

    book = experiment_config("book")
    assert book.student_budgets == () and book.budget_students == ()
    assert "student_budgets" not in book.to_json()  # fold records of runs without them stay valid
    cfg = dataclasses.replace(book, handover=("shuffled",), kd_sweep=(0.5,), student_budgets=(20, 5))
    assert cfg.student_budgets == (5, 20)
    assert cfg.budget_students == ("student_e5", "student_kd_e5", "student_kd_w0.5_e5", "student_kd_shuffled_e5",
                                   "student_e20", "student_kd_e20", "student_kd_w0.5_e20", "student_kd_shuffled_e20")
    assert ExperimentConfig.from_json(json.loads(json.dumps(cfg.to_json()))) == cfg


@pytest.mark.parametrize("overrides, match", [
    ({"student_budgets": (0,)}, r"^student_budgets=\(0,\): need distinct whole numbers from 1 to the students' "
                                r"max_epochs - 1 = 119$"),
    ({"student_budgets": (120,)}, r"^student_budgets=\(120,\): need distinct whole numbers from 1 to .* = 119$"),
    ({"student_budgets": (5, 5)}, r"^student_budgets=\(5, 5\): need distinct"),
    ({"student_budgets": (2.5,)}, r"^student_budgets=\(2.5,\): need distinct whole numbers"),
    ({"student_budgets": (5,), "handover": ("self",)},
     r"^student_budgets=\(5,\) with handover self: these read the plain student .* --student-max-epochs instead$"),
    ({"student_budgets": (5,), "calibration": 0.5}, r"^student_budgets=\(5,\) with calibration: "),
    ({"student_budgets": (5,), "kd_select": (0, 1)}, r"^student_budgets=\(5,\) with kd_select: "),
])
def test_bad_student_budgets_are_named_in_one_line(overrides, match):
    with pytest.raises(EmokdError, match=match):
        experiment_config("book", **overrides)


def test_a_band_the_feature_release_lacks_is_refused_on_it():
    cfg = experiment_config("book", eeg_bands=("delta", "gamma"))  # prepared data has delta
    assert cfg.student.n_inputs == 64
    with pytest.raises(EmokdError, match=r"^eeg_bands=\('delta', 'gamma'\): choose any of theta, alpha, beta, gamma "
                                         r"\(the bands of the feature release\)$"):
        on_feature_release(cfg)
