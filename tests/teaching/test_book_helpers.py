"""emokd.teaching.book, what the chapters share: the preset from $EMOKD_PRESET, the cache folder
($EMOKD_CACHE, else emokd-runs/ beside _toc.yml), the synthetic data made once, one experiment."""

import json
import shutil

import pytest

from emokd.teaching import book
from emokd.core.config import experiment_config, synth_config
from emokd.errors import EmokdError


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    monkeypatch.delenv("EMOKD_PRESET", raising=False)
    monkeypatch.delenv("EMOKD_CACHE", raising=False)


def test_preset_from_the_environment(monkeypatch):
    assert book.preset() == "book"
    monkeypatch.setenv("EMOKD_PRESET", "smoke")
    assert book.preset() == "smoke"
    monkeypatch.setenv("EMOKD_PRESET", "huge")
    with pytest.raises(EmokdError, match="EMOKD_PRESET='huge'.*smoke, book, paper"):
        book.preset()


def test_cache_dir_from_env_else_beside_the_toc_else_here(tmp_path, monkeypatch):
    (tmp_path / "root" / "book" / "deep").mkdir(parents=True)
    (tmp_path / "root" / "_toc.yml").write_text("format: jb-book\n")
    monkeypatch.chdir(tmp_path / "root" / "book" / "deep")  # a chapter runs in book/ (here deeper still)
    assert book.cache_dir() == (tmp_path / "root" / "emokd-runs").resolve()
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    assert book.cache_dir() == (tmp_path / "elsewhere" / "emokd-runs").resolve()
    monkeypatch.setenv("EMOKD_CACHE", str(tmp_path / "cache"))
    assert book.cache_dir() == tmp_path / "cache"


def test_unknown_preset_is_refused_before_any_work(tmp_path, monkeypatch):
    monkeypatch.setenv("EMOKD_CACHE", str(tmp_path / "cache"))
    for call in (book.synthetic_data, book.experiment):
        with pytest.raises(EmokdError, match="preset 'huge' is not one of smoke, book, paper"):
            call("huge")
    assert not (tmp_path / "cache").exists()


def test_synthetic_data_made_once_per_preset_under_the_cache(smoke_dir, tmp_path, monkeypatch):
    """The smoke data of seed 0 (the session's copy, so that nothing is generated here) is reused as it is
    and prepared once; a second call rewrites no data file (the manifest is written again, the same)."""
    monkeypatch.setenv("EMOKD_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("EMOKD_PRESET", "smoke")
    raw_want = tmp_path / "cache" / "book-smoke" / "data"
    shutil.copytree(smoke_dir, raw_want)
    truth = json.loads((raw_want / "ground_truth.json").read_text())
    assert truth["seed"] == book.SEED and truth["config"] == json.loads(json.dumps(synth_config("smoke").to_json()))
    raw, prepared = book.synthetic_data()
    assert (raw, prepared) == (raw_want, raw_want / "prepared")
    manifest = json.loads((prepared / "manifest.json").read_text())
    assert len(manifest["trials"]) == 6
    # every data file (the lock file beside them names the last process that prepared: not data)
    stamps = {p: p.stat().st_mtime_ns for p in raw.rglob("*")
              if p.is_file() and p.name not in ("manifest.json", ".prepare.lock")}
    assert book.synthetic_data("smoke") == (raw, prepared)
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps  # raw data and prepared trials: not rewritten
    assert json.loads((prepared / "manifest.json").read_text()) == manifest
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == ["book-smoke"]  # one folder per preset


def test_experiment_is_the_presets_loso_run_in_the_cache(tmp_path, monkeypatch):
    """What book.experiment() asks of run_experiment (the experiment itself is tested in test_experiment.py)."""
    monkeypatch.setenv("EMOKD_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("EMOKD_PRESET", "smoke")
    calls = []
    monkeypatch.setattr(book, "synthetic_data", lambda name, progress=False: (tmp_path / "raw", tmp_path / "prep"))

    def fake_run(prepared, cfg, out, **kw):
        calls.append((prepared, cfg, out, kw))
        return {"n_folds": 3}

    import emokd.evaluation.experiment as experiment_module  # imported by book.experiment() when called

    monkeypatch.setattr(experiment_module, "run_experiment", fake_run)
    out, results = book.experiment(progress=False)  # the bar reads the data: tests/teaching/test_book_progress.py
    assert out == tmp_path / "cache" / "book-smoke" / "loso_seed0" and results == {"n_folds": 3}
    prepared, cfg, out_arg, kw = calls[0]
    assert prepared == tmp_path / "prep" and out_arg == out
    assert cfg == experiment_config("smoke", "loso", book.SEED)
    assert kw == {"n_jobs": 2, "progress": False, "resume": True}  # a later chapter reuses the run
    out, _ = book.experiment("book", protocol="trs", progress=False)
    assert out == tmp_path / "cache" / "book-book" / "trs_seed0"
    assert calls[1][1] == experiment_config("book", "trs", book.SEED)


@pytest.mark.slow
def test_a_damaged_ground_truth_in_the_cache_is_generated_again(smoke_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("EMOKD_CACHE", str(tmp_path / "cache"))
    raw_want = tmp_path / "cache" / "book-smoke" / "data"
    shutil.copytree(smoke_dir, raw_want)
    truth = raw_want / "ground_truth.json"
    truth.write_text(truth.read_text()[:100])  # cut short: not JSON
    raw, prepared = book.synthetic_data("smoke")
    assert raw == raw_want and json.loads(truth.read_text()) == json.loads((smoke_dir / "ground_truth.json").read_text())
    assert len(json.loads((prepared / "manifest.json").read_text())["trials"]) == 6


def test_glue_stores_python_numbers_without_showing_them(monkeypatch):
    """The chapters' glue: a numpy scalar is stored as a Python number (myst-nb reads the value back
    from its text form, where np.float64(0.5) is no number), and nothing is displayed."""
    import numpy as np
    import myst_nb

    calls = []
    monkeypatch.setattr(myst_nb, "glue", lambda name, value, display=True: calls.append((name, value, display)))
    book.glue("share", np.float64(0.49))
    book.glue("n", np.int64(6))
    book.glue("word", "within")
    assert calls == [("share", 0.49, False), ("n", 6, False), ("word", "within", False)]
    assert type(calls[0][1]) is float and type(calls[1][1]) is int


def test_a_chapter_that_reads_data_does_not_import_torch():
    """``emokd.teaching.book`` imports the experiment (and with it torch) only when a chapter asks for it:
    chapters 01-03, 08 and 10 start a second or two sooner."""
    import subprocess
    import sys

    code = "import sys; from emokd.teaching import book; print(sorted(m for m in ('torch', 'emokd.training.fold') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_a_second_chapter_waits_for_the_first_and_then_reuses_its_run(tmp_path, monkeypatch, capsys):
    """Two kernels asking for the experiment at once (the build executes chapters side by side): where
    ``emokd run`` would refuse the folder, the second chapter waits for the first chapter's hold on the
    preset's cache (here another open file holds it for 0.3 s) and then asks the run for its results."""
    import fcntl
    import threading
    import time

    import emokd.evaluation.experiment as experiment_module

    monkeypatch.setenv("EMOKD_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(book, "ensure_generated", lambda *a, **k: None)
    monkeypatch.setattr(book, "prepare_dataset", lambda *a, **k: None)
    monkeypatch.setattr(experiment_module, "run_experiment", lambda *a, **k: {"n_folds": 3})
    lock = tmp_path / "cache" / "book-smoke" / ".book.lock"
    lock.parent.mkdir(parents=True)
    other = open(lock, "a+")  # the first chapter's kernel: another open file description
    fcntl.flock(other.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    threading.Timer(0.3, other.close).start()
    t0 = time.perf_counter()
    out, results = book.experiment("smoke", progress=False)
    assert time.perf_counter() - t0 >= 0.25 and results == {"n_folds": 3}
    assert capsys.readouterr().out == ""  # a short wait (another chapter checking its cached run) is silent
    t0 = time.perf_counter()
    book.synthetic_data("smoke")  # nobody holds it now: no wait, no message
    assert time.perf_counter() - t0 < 0.25 and capsys.readouterr().out == ""
    # a long wait (another chapter training the experiment) says so, once, and then waits
    monkeypatch.setattr(book, "QUIET_WAIT_S", 0.1)
    other = open(lock, "a+")
    fcntl.flock(other.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    threading.Timer(0.5, other.close).start()
    t0 = time.perf_counter()
    book.experiment("smoke", progress=False)
    assert time.perf_counter() - t0 >= 0.45
    assert capsys.readouterr().out.count("another chapter") == 1
