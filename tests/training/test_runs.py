"""emokd.training.runs: the run-folder reader on a fake run folder and on the committed real-data results."""

import json
from pathlib import Path

import numpy as np
import pytest

from emokd.evaluation import report
from emokd.training import runs
from emokd.training.datasets import Fold
from emokd.errors import EmokdError
from emokd.core.metrics import METRICS

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = sorted(p.parent for p in (ROOT / "results" / "mahnob-features").glob("*_seed*/results.json"))
MODELS = ["teacher", "student", "student_kd"]


def _fake_run(run_dir: Path) -> dict:
    """Two folds, three models, one reference; metric values chosen so that each names its place."""
    folds = []
    for i, fold in enumerate((3, 1)):  # fold numbers out of order: the reader keeps the file's order
        here = run_dir / "folds" / f"fold_{fold:02d}"
        here.mkdir(parents=True)
        metrics = {m: {s: {k: fold + 0.1 * j + 0.01 * si + 0.001 * ki for ki, k in enumerate(METRICS)}
                       for si, s in enumerate(runs.SCHEMES)} for j, m in enumerate(MODELS + ["ref_zero"])}
        key = f"P{fold:02d}_T01"
        np.savez(here / "predictions.npz", **{f"{key}__true": np.zeros(5, np.float32),
                                               **{f"{key}__{m}": np.full(5, j, np.float32) for j, m in enumerate(MODELS)}})
        for m in MODELS:
            (here / f"{m}.pt").write_bytes(b"")
            (here / f"{m}.log.jsonl").write_text("".join(json.dumps({"epoch": e, "val_ccc": 0.1 * e + fold}) + "\n"
                                                         for e in (1, 2)))
        folds.append({"fold": fold, "train": {"trials": ["P09_T01", "P09_T02"]}, "validation": {"trials": ["P08_T01"]},
                      "test": {"trials": [key], "subjects": [fold]}, "metrics": metrics,
                      "predictions": f"folds/fold_{fold:02d}/predictions.npz"})
    results = {"format": runs.FORMAT, "models": MODELS, "references": ["ref_zero"], "folds": folds,
               "data_path": "/nowhere/prepared"}
    (run_dir / "results.json").write_text(json.dumps(results))
    return results


@pytest.fixture
def fake(tmp_path):
    return tmp_path, _fake_run(tmp_path)


def test_load_run_folds_paths_predictions(fake):
    run_dir, results = fake
    run = runs.load_run(run_dir)
    assert run.results == results and run.models == MODELS and run.references == ["ref_zero"]
    assert run.folds == [Fold(3, ("P09_T01", "P09_T02"), ("P08_T01",), ("P03_T01",)),
                         Fold(1, ("P09_T01", "P09_T02"), ("P08_T01",), ("P01_T01",))]
    assert run.model_path(3, "student") == run_dir / "folds" / "fold_03" / "student.pt"
    assert run.data_dir == Path("/nowhere/prepared")
    preds = run.predictions(1)
    assert list(preds) == ["P01_T01"] and set(preds["P01_T01"]) == {"true", *MODELS}
    assert preds["P01_T01"]["student_kd"].tolist() == [2.0] * 5
    assert run.missing_outputs() == []
    (run_dir / "folds" / "fold_01" / "student.pt").unlink()
    assert run.missing_outputs() == [run_dir / "folds" / "fold_01" / "student.pt"]
    (run_dir / "folds" / "fold_03" / "predictions.npz").unlink()
    assert run.predictions(3, missing_ok=True) is None
    with pytest.raises(EmokdError, match="fold_03/predictions.npz: predictions of fold 3 not found"):
        run.predictions(3)
    with pytest.raises(EmokdError, match="no fold 7"):
        run.predictions(7)
    with pytest.raises(EmokdError, match="'config' is missing"):
        run.config  # noqa: B018


def test_metrics_frame_is_long_and_complete(fake):
    run_dir, results = fake
    df = runs.load_run(run_dir).metrics
    assert list(df.columns) == list(runs.COLUMNS)
    assert len(df) == 2 * 4 * len(runs.SCHEMES) * len(METRICS)
    for f in results["folds"]:
        for model, by_scheme in f["metrics"].items():
            for scheme, by_metric in by_scheme.items():
                for metric, value in by_metric.items():
                    row = df[(df.fold == f["fold"]) & (df.model == model) & (df.scheme == scheme) & (df.metric == metric)]
                    assert row["value"].tolist() == [value]
    assert df["fold"].tolist()[:1] == [3] and df["metric"].tolist()[:3] == list(METRICS)  # the file's order


def test_logs(fake):
    run_dir, _ = fake
    one = runs.read_log(run_dir / "folds" / "fold_01" / "student.log.jsonl")
    assert one.to_dict("list") == {"epoch": [1, 2], "val_ccc": [1.1, 1.2]}
    logs = runs.load_run(run_dir).logs("student", "teacher")
    assert logs[["fold", "model"]].drop_duplicates().values.tolist() == [[3, "student"], [3, "teacher"],
                                                                         [1, "student"], [1, "teacher"]]
    assert len(runs.load_run(run_dir).logs()) == 2 * 3 * 2
    (run_dir / "bad.jsonl").write_text("{oops\n")
    with pytest.raises(EmokdError, match="bad.jsonl: not a readable training log"):
        runs.read_log(run_dir / "bad.jsonl")


def test_read_json_offers_fresh(tmp_path):
    (tmp_path / "a.json").write_text("[1]")
    with pytest.raises(EmokdError, match="expected a JSON object; rerun with --fresh"):
        runs.read_json(tmp_path / "a.json")
    with pytest.raises(EmokdError, match="not readable.*--fresh"):
        runs.read_json(tmp_path / "none.json")


def test_one_format_constant():
    from emokd.evaluation import experiment
    from emokd.training import runfolder

    assert experiment.FORMAT is runs.FORMAT
    assert runs.FORMAT == "emokd-results/2" and runs.READ_FORMATS == ("emokd-results/1", runs.FORMAT)
    assert "emokd-results/" not in Path(runfolder.__file__).read_text()
    assert not hasattr(report, "FORMAT")  # the reader's constant, not re-exported


@pytest.mark.skipif(not COMMITTED, reason="no committed results/mahnob-features runs")
@pytest.mark.parametrize("run_dir", COMMITTED, ids=lambda p: p.name)
@pytest.mark.slow
def test_report_reproduces_the_committed_tables(run_dir, tmp_path):
    """results.csv byte for byte and the markdown table as the earlier report wrote them."""
    results = report.load_results(run_dir)
    csv_path = report.write_csv(results, tmp_path / "results.csv")
    assert csv_path.read_bytes() == (run_dir / "results.csv").read_bytes()
    assert report.markdown_table(results) in (run_dir / "results.md").read_text(encoding="utf-8")


def test_predictions_changed_after_the_run_are_refused(fake, tmp_path):
    run_dir, results = fake
    for f in results["folds"]:  # as the run records them
        with np.load(run_dir / f["predictions"]) as npz:
            f["predictions_sha256"] = runs.predictions_sha256({k: npz[k] for k in npz.files})
    (run_dir / "results.json").write_text(json.dumps(results))
    assert runs.load_run(run_dir).predictions(3)["P03_T01"]["student"].tolist() == [1.0] * 5
    path = run_dir / "folds" / "fold_03" / "predictions.npz"
    with np.load(path) as f:
        arrays = {k: f[k] for k in f.files}
    arrays["P03_T01__student"] = arrays["P03_T01__true"].copy()  # hand-edited: a perfect student
    np.savez(path, **arrays)
    message = (rf"fold_03/predictions.npz: contents changed since the run \(their SHA-256 is not fold 3's "
               rf"predictions_sha256 in {run_dir / 'results.json'}\); restore the file, or rerun with --fresh")
    with pytest.raises(EmokdError, match=message):
        runs.load_run(run_dir).predictions(3)
    with pytest.raises(EmokdError, match=message):
        report.write_report(run_dir, tmp_path / "report")
    assert runs.load_run(run_dir).predictions(1)["P01_T01"]["student"].tolist() == [1.0] * 5  # the other fold


def test_a_garbled_or_truncated_knowledge_cache_is_computed_again(smoke_prepared, tmp_path):
    import torch

    from emokd.core.config import experiment_config
    from emokd.training.fold import teacher_knowledge
    from emokd.training.folddata import load_trials
    from emokd.nn.models import build_model, freeze

    cfg = experiment_config("smoke", "loso", seed=0)
    trials = list(load_trials(smoke_prepared[0], cfg.data_format, frames=False).values())
    torch.manual_seed(0)
    teacher = freeze(build_model(cfg.student))  # any model with features will do: it reads the band power
    (tmp_path / "teacher.pt").write_bytes(b"the teacher")
    first = teacher_knowledge(teacher, "x", tmp_path, trials, cfg, "cpu")
    npz, js = tmp_path / "knowledge.npz", tmp_path / "knowledge.json"
    meta = json.loads(js.read_text())
    whole = npz.read_bytes()
    for damage in (lambda: js.write_text('{"step": "knowl'),  # a partial deletion or copy
                   lambda: npz.write_bytes(whole[: len(whole) // 3])):
        damage()
        assert runs.read_cached(npz, js, meta) is None
        again = teacher_knowledge(teacher, "x", tmp_path, trials, cfg, "cpu")
        assert sorted(again) == sorted(first) and all(np.array_equal(again[k], first[k]) for k in first)
        assert sorted(runs.read_cached(npz, js, meta)) == sorted(first)  # written whole again


def test_predictions_sha256_is_of_the_arrays_not_of_the_zip_file(tmp_path):
    import hashlib

    arrays = {"P01_T01__true": np.arange(5, dtype=np.float32), "P01_T01__student": np.ones(5, np.float32)}
    paths = [tmp_path / "a.npz", tmp_path / "b.npz"]
    np.savez(paths[0], **arrays)
    np.savez(paths[1], **dict(reversed(list(arrays.items()))))  # other zip bytes, the same arrays
    assert paths[0].read_bytes() != paths[1].read_bytes()
    digests = set()
    for path in paths:
        with np.load(path) as f:
            digests.add(runs.predictions_sha256({k: f[k] for k in f.files}))
    assert digests == {runs.predictions_sha256(arrays)}
    # a known answer: the names, dtypes and shapes as JSON, then the bytes, in name order
    h = hashlib.sha256()
    for key in sorted(arrays):
        h.update(json.dumps([key, "<f4", [5]]).encode() + arrays[key].tobytes())
    assert runs.predictions_sha256(arrays) == h.hexdigest()
    assert runs.predictions_sha256({**arrays, "P01_T01__student": np.zeros(5, np.float32)}) != h.hexdigest()


def test_copy_fold_records_copies_finished_folds_once(tmp_path):
    """What a study keeps of a run as it goes (``emokd run --fold-records`` reads it back): each finished
    fold's fold.json, copied when new or changed, never an unfinished fold."""
    run, records = tmp_path / "run", tmp_path / "records"
    for n, text in ((0, '{"fold": 0}'), (3, '{"fold": 3}')):
        (run / "folds" / f"fold_{n:02d}").mkdir(parents=True)
        (run / "folds" / f"fold_{n:02d}" / "fold.json").write_text(text)
    (run / "folds" / "fold_05").mkdir()  # unfinished: only checkpoints
    (run / "folds" / "fold_05" / "teacher.ckpt").write_bytes(b"x")
    assert runs.copy_fold_records(run, records) == [0, 3]
    assert sorted(p.name for p in records.iterdir()) == ["fold_00.json", "fold_03.json"]
    assert (records / "fold_03.json").read_text() == '{"fold": 3}'
    assert runs.copy_fold_records(run, records) == []  # nothing new
    (run / "folds" / "fold_03" / "fold.json").write_text('{"fold": 3, "redone": true}')
    assert runs.copy_fold_records(run, records) == [3]
    assert (records / "fold_03.json").read_text() == '{"fold": 3, "redone": true}'
    assert sorted(p.name for p in records.iterdir()) == ["fold_00.json", "fold_03.json"]  # no temporary file left


# -- older layouts: read as the current one, never rewritten -------------------------------------------------

#: every committed results.json of a run, whatever its layout
COMMITTED_RESULTS = sorted(p for p in (ROOT / "results").glob("**/results.json")
                           if json.loads(p.read_text()).get("format", "").startswith("emokd-results/"))
#: every committed fold record of the older layout (``runs/*/folds/fold_XX.json`` of a study,
#: ``*/folds/fold_XX.json`` of bench_real; those of emokd-fold/2 have a ``format``)
COMMITTED_RECORDS = sorted(p for p in (ROOT / "results").glob("**/folds/fold_*.json")
                           if "format" not in json.loads(p.read_text()))


def _as_current(results: dict) -> dict:
    """A version-1 results dict as this emokd writes the same run: the two keys renamed (written out here,
    not through the code under test)."""
    renamed = {"data": "data_path", "inputs": "data_fingerprint"}
    return {renamed.get(k, k): v for k, v in results.items()} | {"format": "emokd-results/2"}


def test_an_old_results_json_reads_as_the_same_run_in_the_current_layout(tmp_path):
    old_dir = next(p.parent for p in COMMITTED_RESULTS if "inputs" in json.loads(p.read_text()))  # version 1
    before = (old_dir / "results.json").read_bytes()
    raw = json.loads(before)
    assert raw["format"] == "emokd-results/1"
    (tmp_path / "results.json").write_text(json.dumps(_as_current(raw)))
    old, new = runs.load_run(old_dir), runs.load_run(tmp_path)
    assert old.results == new.results and old.results["format"] == runs.FORMAT
    assert old.results["data_fingerprint"] == raw["inputs"] and old.data_dir == Path(raw["data"]) == new.data_dir
    assert "data" not in old.results and "inputs" not in old.results
    assert old.config == new.config and old.folds == new.folds
    assert old.metrics.equals(new.metrics)
    assert report.markdown_table(old.results) == report.markdown_table(new.results)
    assert (old_dir / "results.json").read_bytes() == before  # read, not rewritten


@pytest.mark.parametrize("path", COMMITTED_RESULTS, ids=lambda p: str(p.parent.relative_to(ROOT / "results")))
def test_every_committed_results_json_loads(path):
    run = runs.load_run(path.parent)
    raw = json.loads(path.read_text())
    assert run.results["format"] == runs.FORMAT and run.data_dir == Path(raw.get("data_path", raw.get("data")))
    assert len(run.folds) == run.results["n_folds"]


def test_upgrade_results_leaves_the_current_layout_and_unknown_formats_alone():
    current = {"format": runs.FORMAT, "data_path": "/d", "data_fingerprint": {"kind": "features"}}
    assert runs.upgrade_results(current) is current
    unknown = {"format": "emokd-results/0", "data": "/d"}
    assert runs.upgrade_results(unknown) is unknown
    with pytest.raises(EmokdError, match=r"format is 'emokd-results/0', expected one of"):
        runs.check_results(unknown, "x")


@pytest.mark.parametrize("path", COMMITTED_RECORDS[::7], ids=lambda p: str(p.relative_to(ROOT / "results")))
def test_a_committed_fold_record_reads_as_the_current_layout(path, tmp_path):
    raw = json.loads(path.read_text())
    assert "format" not in raw and isinstance(raw["inputs"], str)  # written before FOLD_FORMAT
    rec = runs.read_fold_record(path)
    assert rec["format"] == runs.FOLD_FORMAT and rec["data_id"] == raw["inputs"] and "inputs" not in rec
    current = {("data_id" if k == "inputs" else k): v for k, v in raw.items()} | {"format": "emokd-fold/2"}
    (tmp_path / "fold_00.json").write_text(json.dumps(current))
    assert runs.read_fold_record(tmp_path / "fold_00.json") == rec


def test_a_fold_record_of_an_unknown_format_is_refused(tmp_path):
    (tmp_path / "fold_00.json").write_text(json.dumps({"format": "emokd-fold/9", "fold": 0}))
    with pytest.raises(EmokdError, match=r"fold_00.json: field 'format' is 'emokd-fold/9'.*--fresh"):
        runs.read_fold_record(tmp_path / "fold_00.json")
