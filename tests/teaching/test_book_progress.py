"""emokd.teaching.book's progress bar over the shared experiment: it counts the model files that the folds
write, from a thread, and knows how many to expect (folds x models)."""

import time

from emokd.teaching import book
from emokd.core.config import experiment_config
from emokd.training.datasets import make_folds
from emokd.io.prepare import read_manifest


def test_the_bar_counts_the_models_the_folds_write(smoke_prepared, tmp_path):
    prepared, _ = smoke_prepared
    cfg = experiment_config("smoke", "loso", 0)
    subjects = {k: t["subject"] for k, t in read_manifest(prepared)["trials"].items()}
    n_folds = len(make_folds(subjects, "loso", seed=0))
    assert book._n_models(prepared, cfg) == 3 * n_folds  # teacher, student, KD student per fold

    out = tmp_path / "run"
    (out / "folds" / "fold_00").mkdir(parents=True)
    (out / "folds" / "fold_00" / "teacher.pt").write_bytes(b"")  # a model finished before (resume)
    with book._model_bar(out, prepared, cfg, every_s=0.05) as bar:
        assert bar.total == 3 * n_folds and bar.n == 1
        for name in ("student.pt", "student_kd.pt", "student.ckpt"):  # a checkpoint is not a model
            (out / "folds" / "fold_00" / name).write_bytes(b"")
        deadline = time.monotonic() + 5
        while bar.n < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert bar.n == 3
    assert bar.n == 3  # closed with the final count
