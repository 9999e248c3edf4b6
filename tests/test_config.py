"""Presets: the `paper` preset equals the released code's settings; the new options keep `book` as it was."""

import dataclasses

import pytest

from emokd.config import ExperimentConfig, TrainConfig, experiment_config, on_feature_release
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
    assert cfg.student_train == TrainConfig(lr=1e-3, lr_min=1e-5, batch_size=8, max_epochs=40, lr_patience=3,
                                            early_stop=8, grad_clip=1.0)
    rel = on_feature_release(cfg)
    assert rel.teacher_train == rel.student_train == cfg.student_train


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
