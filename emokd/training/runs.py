"""Read a run folder: one reader for the experiment's resume check, the report and saliency.

A run folder written by :func:`emokd.evaluation.experiment.run_experiment`::

    results.json                config, data_path, data_fingerprint, folds (partitions, metrics, best
                                epochs, the predictions' :func:`predictions_sha256`), summary, tests
    folds/fold_XX/fold.json     one finished fold's result (while the run is going; :func:`read_fold_record`)
    folds/fold_XX/<model>.pt    state dict + config (:func:`emokd.training.train.save_model`)
    folds/fold_XX/<model>.log.jsonl   one JSON record per epoch (:func:`read_log`)
    folds/fold_XX/predictions.npz     test predictions, arrays ``<trial>__true``, ``<trial>__<model>``

:func:`load_run` checks ``results.json`` (format :data:`FORMAT`, or an older one of
:data:`READ_FORMATS`, read as the current one by :func:`upgrade_results`; every fold's
metrics of every model and reference) and returns a :class:`Run`::

    run = load_run("emokd-runs/smoke")
    run.config                      # ExperimentConfig
    run.folds                       # [Fold(fold, train, validation, test), ...]
    run.metrics                     # DataFrame: fold, model, scheme, metric, value
    run.model_path(0, "student")    # folds/fold_00/student.pt
    run.predictions(0)              # trial -> {"true": (n_steps,), model: (n_steps,), ...}
    run.logs("student_kd")          # every fold's training log, with fold and model columns

:func:`read_log` reads one training log; :func:`read_json` one JSON file of a
run folder (an unreadable one is an error that offers ``--fresh``); :func:`read_fold_record` one
fold's record (``fold.json``, :data:`FOLD_FORMAT` or the older layout, read as the current one).
:func:`copy_fold_records` keeps each finished fold's record elsewhere while a run goes (for
``emokd run --fold-records``).
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from .datasets import Fold
from ..errors import EmokdError
from ..core.metrics import METRICS
from ..core.config import ExperimentConfig
from ..core.fileio import write_bytes

#: ``results.json``'s layout. Version 2 (2026-12) gave each key one meaning: ``data_path`` (the folder the
#: run read) and ``data_fingerprint`` (:func:`emokd.training.runfolder.data_fingerprint`) were ``data`` and
#: ``inputs`` in version 1, which is still read (:func:`upgrade_results`).
FORMAT = "emokd-results/2"
#: the ``results.json`` layouts this emokd reads: the current one and those :func:`upgrade_results` upgrades
READ_FORMATS = ("emokd-results/1", FORMAT)
#: a fold's record (``folds/fold_XX/fold.json``, kept elsewhere as ``fold_XX.json``). Version 2 names the
#: data's short id ``data_id``; the records before it have no ``format`` and call it ``inputs``.
FOLD_FORMAT = "emokd-fold/2"
RESULTS = "results.json"
PREDICTIONS = "predictions.npz"
#: Scoring schemes: each fold's test trials joined into one sequence, or scored
#: trial by trial and averaged within the fold.
SCHEMES = ("concatenated", "per_trial")
COLUMNS = ("fold", "model", "scheme", "metric", "value")


# -- the layout ---------------------------------------------------------------------

def fold_dir(run_dir, fold: int) -> Path:
    """``run_dir/folds/fold_XX``: one fold's files."""
    return Path(run_dir) / "folds" / f"fold_{fold:02d}"


def model_path(run_dir, fold: int, model: str) -> Path:
    """``folds/fold_XX/<model>.pt``."""
    return fold_dir(run_dir, fold) / f"{model}.pt"


def log_path(run_dir, fold: int, model: str) -> Path:
    """``folds/fold_XX/<model>.log.jsonl``."""
    return fold_dir(run_dir, fold) / f"{model}.log.jsonl"


def missing_outputs(run_dir, folds, models) -> list[Path]:
    """The model and prediction files of ``folds`` (fold numbers) that are not there."""
    names = [f"{m}.pt" for m in models] + [PREDICTIONS]
    return [p for f in folds for p in (fold_dir(run_dir, f) / n for n in names) if not p.is_file()]


# -- single files -------------------------------------------------------------------

def read_json(path) -> dict:
    """A JSON object of a run folder; unreadable: an EmokdError naming it that offers ``--fresh``."""
    path = Path(path)
    try:
        obj = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise EmokdError(f"{path}: not readable ({err}); rerun with --fresh to recompute it") from None
    if not isinstance(obj, dict):
        raise EmokdError(f"{path}: expected a JSON object; rerun with --fresh to recompute it")
    return obj


#: version 1 of results.json -> version 2: the keys renamed, each to its one meaning
_RESULTS_V1_KEYS = {"data": "data_path", "inputs": "data_fingerprint"}


def upgrade_results(results):
    """``results`` (a ``results.json`` dict) in the current layout, :data:`FORMAT`.

    A version-1 dict comes back with ``data`` renamed ``data_path`` and ``inputs`` renamed
    ``data_fingerprint`` (runs before 2026-11 have no fingerprint) and ``format`` set to :data:`FORMAT`:
    reading an old file and reading the same run written today give equal dicts. Anything else is
    returned as it is (:func:`check_results` refuses a format it does not know). The file is not rewritten.
    """
    if not isinstance(results, dict) or results.get("format") != READ_FORMATS[0]:
        return results
    return {_RESULTS_V1_KEYS.get(k, k): v for k, v in results.items()} | {"format": FORMAT}


def upgrade_fold_record(record: dict, where) -> dict:
    """A fold's record (``fold.json``) in the current layout, :data:`FOLD_FORMAT`.

    A record without ``format`` (before version 2) comes back with ``inputs`` (the data's short id,
    :func:`emokd.training.runfolder.fingerprint_id`) renamed ``data_id`` and ``format`` set; one of
    another format is refused with an EmokdError naming ``where`` and offering ``--fresh``.
    """
    if "format" not in record:
        return {("data_id" if k == "inputs" else k): v for k, v in record.items()} | {"format": FOLD_FORMAT}
    if record["format"] != FOLD_FORMAT:
        raise EmokdError(f"{where}: field 'format' is {record['format']!r}; this emokd reads fold records of "
                         f"format {FOLD_FORMAT!r} and the older ones without 'format': rerun with --fresh")
    return record


def read_fold_record(path) -> dict:
    """A fold's record (``folds/fold_XX/fold.json`` or a kept ``fold_XX.json``), in the current layout
    (:func:`upgrade_fold_record`); an unreadable one is an EmokdError naming it that offers ``--fresh``."""
    return upgrade_fold_record(read_json(path), path)


def read_cached(npz, card, meta: dict) -> dict[str, np.ndarray] | None:
    """The arrays of a cache file ``npz`` whose JSON ``card`` (written after it) holds ``meta``; None when
    either is missing, unreadable (a partial deletion, a truncated copy) or made from other inputs:
    the caller then computes the cache again."""
    try:
        if json.loads(Path(card).read_text()) != meta:
            return None
        with np.load(npz, allow_pickle=False) as f:
            return {k: f[k] for k in f.files}
    except (OSError, UnicodeDecodeError, ValueError, EOFError, zipfile.BadZipFile):  # JSONDecodeError: a ValueError
        return None


def read_log(path):
    """A training log (``<model>.log.jsonl``, :func:`emokd.training.train.fit`) as a DataFrame, one row per epoch.

    Columns as the records hold them: ``epoch``, ``lr``, ``train_<term>`` (the loss
    and its named terms, mean over the epoch's batches), ``val_ccc``, ``seconds``.
    """
    import pandas as pd

    path = Path(path)
    try:
        lines = path.read_text().splitlines()
        records = [json.loads(line) for line in lines if line.strip()]
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise EmokdError(f"{path}: not a readable training log ({err})") from None
    return pd.DataFrame.from_records(records)


def read_predictions(path) -> dict[str, dict[str, np.ndarray]]:
    """A ``predictions.npz``: trial key -> ``{"true": ndarray, model: ndarray, ...}``, trials sorted.

    Every array is float32, shape (n_steps,), valence at 4 Hz; each trial has a ``true`` trace
    and every model's trace has its shape.
    """
    return _as_trials(_read_arrays(path), Path(path))


def predictions_sha256(arrays: dict) -> str:
    """SHA-256 of a predictions file's arrays (name -> array): each name, dtype, shape and bytes, names
    sorted. It depends on the predictions only, not on the zip file's metadata (its timestamps), so the
    same predictions give the same digest in every run."""
    import hashlib

    h = hashlib.sha256()
    for key in sorted(arrays):
        a = np.ascontiguousarray(arrays[key])
        h.update(json.dumps([key, a.dtype.str, list(a.shape)]).encode())
        h.update(a.tobytes())
    return h.hexdigest()


def _read_arrays(path: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as npz:
            return {key: npz[key] for key in npz.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
        raise EmokdError(f"{path}: cannot read predictions ({err})") from None


def _as_trials(arrays: dict[str, np.ndarray], path: Path) -> dict[str, dict[str, np.ndarray]]:
    trials: dict[str, dict[str, np.ndarray]] = {}
    for key, arr in arrays.items():
        trial, sep, name = key.rpartition("__")  # trial keys (P02_T01) hold no "__"
        if not sep or not trial or not name or arr.ndim != 1:
            raise EmokdError(f"{path}: array {key!r} (shape {arr.shape}) is not TRIAL__NAME of shape (n_steps,)")
        trials.setdefault(trial, {})[name] = arr
    for trial, named in trials.items():
        if "true" not in named:
            raise EmokdError(f"{path}: trial {trial!r} has no {trial}__true array")
        bad = {name: a.shape for name, a in named.items() if a.shape != named["true"].shape}
        if bad:
            raise EmokdError(f"{path}: trial {trial!r}: {bad} differ from true shape {named['true'].shape}")
    return dict(sorted(trials.items()))


# -- results.json -------------------------------------------------------------------

def _get(obj, *keys):
    """``obj[k1][k2]...``, or None where a level is missing or not a dict."""
    for key in keys:
        obj = obj.get(key) if isinstance(obj, dict) else None
    return obj


def check_results(results, where: str) -> None:
    """Check the fields of a results dict that readers use; raise naming ``where`` and the field."""
    if not isinstance(results, dict):
        raise EmokdError(f"{where}: expected a JSON object, got {type(results).__name__}")
    if results.get("format") not in READ_FORMATS:
        raise EmokdError(f"{where}: format is {results.get('format')!r}, expected one of {READ_FORMATS}")
    models = results.get("models")
    if not isinstance(models, list) or not models or not all(isinstance(m, str) for m in models):
        raise EmokdError(f"{where}: 'models' must be a non-empty list of names, got {models!r}")
    refs = results.get("references", [])
    if not isinstance(refs, list) or not all(isinstance(m, str) for m in refs):
        raise EmokdError(f"{where}: 'references' must be a list of names, got {refs!r}")
    folds = results.get("folds")
    if not isinstance(folds, list) or not folds:
        raise EmokdError(f"{where}: 'folds' must be a non-empty list, got {folds!r}")
    seen = set()
    for i, fold in enumerate(folds):
        if not isinstance(fold, dict):
            raise EmokdError(f"{where}: folds[{i}] must be an object, got {fold!r}")
        fid = fold.get("fold")
        if not isinstance(fid, int) or isinstance(fid, bool) or fid in seen:
            raise EmokdError(f"{where}: folds[{i}].fold must be a unique integer, got {fid!r}")
        seen.add(fid)
        check_fold_metrics(fold, models + refs, where, f"folds[{i}].")
    for key in ("summary", "summary_per_trial"):  # stored tables: read by the report, checked against the folds
        table = results.get(key, {})
        if not isinstance(table, dict) or not all(isinstance(t, dict) and all(isinstance(v, dict) for v in t.values())
                                                  for t in table.values()):
            raise EmokdError(f"{where}: '{key}' must be an object (model -> metric -> mean, sd, n), got {table!r:.60}")


def check_fold_metrics(fold: dict, models, where: str, prefix: str = "") -> None:
    """Every metric of every model in a fold's result (``fold["metrics"][model][scheme][metric]``) is a
    number; otherwise an EmokdError naming ``where`` and the field (``prefix`` + ``metrics.student...``)."""
    for model in models:
        for scheme in SCHEMES:
            for metric in METRICS:
                value = _get(fold, "metrics", model, scheme, metric)
                if not isinstance(value, (int, float)) or isinstance(value, bool):
                    field = f"{prefix}metrics.{model}.{scheme}.{metric}"
                    raise EmokdError(f"{where}: {field} must be a number, got {value!r}")


def read_results(run_dir) -> dict:
    """Read and check ``run_dir/results.json``, in the current layout (:data:`FORMAT`; an older file of
    :data:`READ_FORMATS` is read through :func:`upgrade_results`, not rewritten)."""
    path = Path(run_dir) / RESULTS
    if not path.is_file():
        raise EmokdError(f"{path}: no results file (is {run_dir} a finished run folder?)")
    try:
        results = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise EmokdError(f"{path}: not valid JSON ({err})") from None
    check_results(results, str(path))
    return upgrade_results(results)


def metrics_frame(results: dict, *, field: str = "metrics"):
    """Every fold's metric of every model and reference, long: one row per (fold, model, scheme, metric).

    Columns :data:`COLUMNS` (``value`` float); rows in the order of ``results["folds"]``, then
    ``models`` + ``references``, then :data:`SCHEMES`, then :data:`emokd.core.metrics.METRICS`.
    ``field="metrics_latent"``: the scores against the latent valence (synthetic data).
    """
    import pandas as pd

    names = results["models"] + results.get("references", [])
    rows = [(f["fold"], model, scheme, metric, float(f[field][model][scheme][metric]))
            for f in results["folds"] for model in names for scheme in SCHEMES for metric in METRICS]
    return pd.DataFrame(rows, columns=list(COLUMNS))


# -- the run ------------------------------------------------------------------------

@dataclass(frozen=True)
class Run:
    """A finished run folder: ``results`` is its checked ``results.json``; the rest is read on demand."""

    dir: Path
    results: dict

    @property
    def models(self) -> list[str]:
        """The trained models: ``teacher``, ``student``, ``student_kd``, ..."""
        return list(self.results["models"])

    @property
    def references(self) -> list[str]:
        """The untrained reference points and ridge regressions scored beside them."""
        return list(self.results.get("references", []))

    @property
    def where(self) -> Path:
        return self.dir / RESULTS

    @cached_property
    def config(self):
        """The run's :class:`~emokd.core.config.ExperimentConfig`."""
        try:
            return ExperimentConfig.from_json(self.results["config"])
        except (KeyError, TypeError) as err:
            raise EmokdError(f"{self.where}: field 'config' is missing or invalid ({err})") from None

    @property
    def data_dir(self) -> Path:
        """The data the run read (a prepared folder or the feature release)."""
        try:
            return Path(self.results["data_path"])
        except (KeyError, TypeError) as err:
            raise EmokdError(f"{self.where}: field 'data_path' is missing or invalid ({err})") from None

    @cached_property
    def folds(self) -> list[Fold]:
        """Every fold's partitions, in the order of ``results.json`` (with ``unlabelled``, ``calibration``
        and ``unlabelled_data`` where the fold has them: the training pool its inputs were normalised on)."""
        out = []
        for f in self.results["folds"]:
            try:
                extra = {p: tuple(f[p]["trials"]) for p in ("unlabelled", "calibration", "unlabelled_data") if p in f}
                out.append(Fold(f["fold"], *(tuple(f[p]["trials"]) for p in ("train", "validation", "test")), **extra))
            except (KeyError, TypeError) as err:
                raise EmokdError(f"{self.where}: fold {f.get('fold')!r} has no train/validation/test trials "
                                 f"({err})") from None
        return out

    def fold_entry(self, fold: int) -> dict:
        """The ``results.json`` entry of fold number ``fold``."""
        for entry in self.results["folds"]:
            if entry["fold"] == fold:
                return entry
        have = [entry["fold"] for entry in self.results["folds"]]
        raise EmokdError(f"{self.where}: no fold {fold!r}; folds are {have}")

    @cached_property
    def metrics(self):
        """:func:`metrics_frame` of the run: columns fold, model, scheme, metric, value."""
        return metrics_frame(self.results)

    def model_path(self, fold: int, model: str) -> Path:
        return model_path(self.dir, fold, model)

    def predictions_path(self, fold: int) -> Path:
        rel = self.fold_entry(fold).get("predictions")
        if not isinstance(rel, str):
            raise EmokdError(f"{self.where}: fold {fold} has no 'predictions' path, got {rel!r}")
        return self.dir / rel

    def predictions(self, fold: int, *, missing_ok: bool = False) -> dict[str, dict[str, np.ndarray]] | None:
        """Test predictions of fold ``fold``: :func:`read_predictions`; None if absent and ``missing_ok``.

        Arrays whose :func:`predictions_sha256` is not the fold's ``predictions_sha256`` (recorded
        when the fold wrote them; runs of older emokd versions have none) are refused: they are
        not what the metrics in ``results.json`` were computed from.
        """
        path = self.predictions_path(fold)
        if not path.is_file():
            if missing_ok:
                return None
            raise EmokdError(f"{path}: predictions of fold {fold} not found")
        arrays = _read_arrays(path)
        expected = self.fold_entry(fold).get("predictions_sha256")
        if expected is not None and predictions_sha256(arrays) != expected:
            raise EmokdError(f"{path}: contents changed since the run (their SHA-256 is not fold {fold}'s "
                             f"predictions_sha256 in {self.where}); restore the file, or rerun with --fresh")
        return _as_trials(arrays, path)

    def log(self, fold: int, model: str):
        """One model's training log in one fold (:func:`read_log`), with ``fold`` and ``model`` columns."""
        return read_log(log_path(self.dir, fold, model)).assign(fold=fold, model=model)

    def logs(self, *models: str):
        """The training logs of ``models`` (default: every trained model) in every fold, one DataFrame."""
        import pandas as pd

        return pd.concat([self.log(f["fold"], m) for f in self.results["folds"] for m in (models or self.models)],
                         ignore_index=True)

    def missing_outputs(self, models=None) -> list[Path]:
        """Model and prediction files of the run's folds that are not there (deleted after the run)."""
        imported = set(self.results.get("imported_folds", []))  # their files stay where they ran
        return missing_outputs(self.dir, [f["fold"] for f in self.results["folds"] if f["fold"] not in imported],
                               self.models if models is None else models)


def load_run(run_dir) -> Run:
    """The finished run in ``run_dir``: its ``results.json`` read and checked (:func:`read_results`)."""
    return Run(Path(run_dir), read_results(run_dir))


def copy_fold_records(run, records) -> list[int]:
    """Copy each finished fold's ``folds/fold_XX/fold.json`` of the run folder ``run`` to ``records/fold_XX.json``.

    Only new or changed records are written (atomically); returns the fold numbers copied. A run stopped
    part-way resumes from such a folder elsewhere: ``emokd run --fold-records RECORDS`` checks and reuses
    them. A record holds metrics, partitions, best epochs, the configuration and the data's fingerprint:
    no labels, predictions or weights.
    """
    copied = []
    for done in sorted(Path(run).glob("folds/fold_*/fold.json")):
        dest = Path(records) / (done.parent.name + ".json")
        text = done.read_bytes()
        if dest.exists() and dest.read_bytes() == text:
            continue
        dest.parent.mkdir(parents=True, exist_ok=True)
        write_bytes(dest, text)
        copied.append(int(done.parent.name.removeprefix("fold_")))
    return copied
