"""A run folder is emokd's, locked while a run uses it, and knows what it was computed from.

* :func:`run_lock` -- ``OUT/.emokd.lock`` held with ``fcntl.flock`` for as long as
  a run uses ``OUT``; a second run into the same folder stops at once with
  "another emokd run (pid N) is using OUT". Re-entrant within one process (the
  command line and :func:`emokd.evaluation.experiment.run_experiment` both take it).
* :func:`claim` -- ``OUT`` must be new, empty, or emokd's run folder (it holds
  ``OUT/.emokd.json``, or a ``results.json`` of a format emokd reads); a folder with
  files emokd did not write is refused unless ``fresh``. ``fresh`` removes the
  old run's outputs (:func:`run_outputs`) and refuses to overwrite a file of the
  same name that emokd did not write; :func:`check_claim` is the same check
  without writing anything (before the lock file is made); :func:`check_output_folder`
  keeps ``report`` and ``saliency`` out of another run's folder.
* :func:`data_fingerprint` -- what a run is computed from: for prepared data the
  manifest's parameters, its trial keys and each trial file's SHA-256; for the
  feature release the SHA-256 of the label file and of each feature file.
* :func:`read_marker` -- ``OUT/.emokd.json`` (format :data:`FORMAT`; a version-1 marker, whose
  fingerprint was called ``data``, is read as the current one).
* :func:`check_same` -- a stored (config, data) pair against the current one:
  raises a one-line :class:`~emokd.errors.EmokdError` naming what changed and
  offering ``--fresh``.
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
from pathlib import Path

from ..errors import EmokdError
from ..core.locks import LockBusy, file_lock
from . import runs
from ..core.fileio import sha256, write_json
from ..io.features import find_feature_file
from ..io.mahnob import LABEL_FILE, read_labels
from ..io.prepare import MANIFEST, check_complete, read_manifest
from .runs import read_json

MARKER = ".emokd.json"
LOCK = ".emokd.lock"
#: the marker's layout. Version 2 (2026-12) calls the data's fingerprint ``data_fingerprint``, as
#: ``results.json`` does; version 1 called it ``data`` (a path everywhere else) and is still read.
FORMAT = "emokd-run/2"
#: the marker layouts this emokd reads
READ_FORMATS = ("emokd-run/1", FORMAT)


@contextlib.contextmanager
def run_lock(out):
    """Hold ``out/.emokd.lock`` (:func:`emokd.core.locks.file_lock`, exclusive) for the ``with`` block.

    Raises EmokdError at once when another process holds it. Where ``fcntl`` is
    not available (Windows) the folder is not locked.
    """
    out = Path(out)
    held = contextlib.ExitStack()
    try:
        held.enter_context(file_lock(out / LOCK))
    except LockBusy as busy:
        raise EmokdError(f"another emokd run (pid {busy.pid}) is using {out}; wait for it to finish or choose "
                         "another --out") from None
    with held:
        yield


def _is_emokd_results(path: Path) -> bool:
    try:
        return runs.read_json(path).get("format") in runs.READ_FORMATS
    except EmokdError:
        return False


def read_marker(out) -> dict | None:
    """``out/.emokd.json`` (what the run folder holds) in the current layout, or None when there is none.

    A version-1 marker comes back with ``data`` renamed ``data_fingerprint`` and ``format`` :data:`FORMAT`
    (the file is rewritten by the run's next :func:`record`)."""
    path = Path(out) / MARKER
    if not path.is_file():
        return None
    try:
        marker = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise EmokdError(f"{path}: not readable ({err}); rerun with --fresh to start this run folder over") \
            from None
    if not isinstance(marker, dict) or marker.get("format") not in READ_FORMATS:
        raise EmokdError(f"{path}: not an emokd run marker (format {FORMAT!r} expected); rerun with --fresh")
    if marker["format"] == READ_FORMATS[0]:
        marker = {("data_fingerprint" if k == "data" else k): v for k, v in marker.items()} | {"format": FORMAT}
    return marker


#: the files a run, its report and its saliency write into OUT (besides the marker and the lock file)
OUTPUT_FILES = ("results.json", "results.md", "results.csv", "saliency.json")
_FOLD = re.compile(r"fold_\d+")
_FIGURE = re.compile(r"fold_ccc\.png|predictions_fold_\d+\.png")


def run_outputs(out) -> list[Path]:
    """What a run (with its report and saliency) wrote into ``out`` and a fresh run replaces:
    :data:`OUTPUT_FILES`, the ``folds/fold_XX`` folders and the report's ``figures/*.png``.
    Its data (``OUT/data``, ``OUT/prepared``) is not among them: a fresh run checks it by content."""
    out = Path(out)
    paths = [out / name for name in OUTPUT_FILES if (out / name).exists()]
    for sub, pattern in (("folds", _FOLD), ("figures", _FIGURE)):
        if (out / sub).is_dir():
            paths += sorted(p for p in (out / sub).iterdir() if pattern.fullmatch(p.name))
    return paths


def _is_ours(out: Path) -> bool:
    return (out / MARKER).is_file() or _is_emokd_results(out / "results.json")


def check_claim(out, *, fresh: bool = False) -> None:
    """Raise EmokdError where :func:`claim` would refuse ``out``; writes nothing."""
    out = Path(out)
    if not out.is_dir() or _is_ours(out):
        return
    entries = sorted(p.name for p in out.iterdir() if p.name not in (LOCK, MARKER))
    if entries and not fresh:
        raise EmokdError(f"{out}: holds files emokd did not write ({_listed(entries, 4)}); choose a new or empty "
                         "--out, or pass --fresh to write emokd's run into it anyway")
    if fresh and (taken := run_outputs(out)):
        names = [str(p.relative_to(out)) for p in taken]
        raise EmokdError(f"{out}: --fresh would overwrite {_listed(names, 4)}, which emokd did not write; move "
                         "them away or choose another --out")


def check_output_folder(run_dir, out) -> None:
    """Raise EmokdError where ``out``, the folder a report or saliency of ``run_dir`` goes to, is another
    run's folder: its results.md, results.csv, figures/ or saliency.json would then be ``run_dir``'s beside
    its own results.json. ``run_dir`` itself, and any other folder, are fine."""
    run_dir, out = Path(run_dir), Path(out)
    if not out.is_dir() or out.resolve() == run_dir.resolve():
        return
    held = next((out / n for n in ("results.json", MARKER) if (out / n).exists()), None)
    if held is not None:
        raise EmokdError(f"{out}: another run's folder (it holds {held.name}); writing {run_dir}'s outputs there "
                         "would mix the two runs: choose a new folder, or the run's own")


def claim(out, *, fresh: bool = False) -> dict:
    """Make sure ``out`` is emokd's run folder (create it, or check it); return its marker.

    Refuses, unless ``fresh``, a folder that holds files emokd did not write
    (no ``.emokd.json`` and no emokd ``results.json``). ``fresh``: the old run's
    outputs in an emokd folder are removed (:func:`run_outputs`), so that nothing
    of it is read with the new run's files; in a folder emokd did not write, a file
    of one of those names is refused, never overwritten. Call it under :func:`run_lock`.
    """
    out = Path(out)
    marker = read_marker(out) if not fresh else None
    if marker is not None:
        return marker
    check_claim(out, fresh=fresh)
    if fresh:
        for path in run_outputs(out):
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
        with contextlib.suppress(OSError):
            (out / "figures").rmdir()  # only when nothing else is in it
    marker = {"format": FORMAT}
    if not fresh and (out / "results.json").is_file():  # an earlier emokd's run: its results say what it was
        old = runs.upgrade_results(read_json(out / "results.json"))
        marker.update(config=old.get("config"), data_fingerprint=old.get("data_fingerprint"))
    write_json(out / MARKER, marker)
    return marker


def record(out, cfg_json: dict, data_fingerprint: dict, *, seconds_before: float = 0.0) -> None:
    """Store what the run in ``out`` is computed from (configuration, the data's :func:`data_fingerprint`)
    and the time spent so far."""
    write_json(Path(out) / MARKER, {"format": FORMAT, "config": cfg_json, "data_fingerprint": data_fingerprint,
                                    "seconds_before": round(seconds_before, 3)})


# -- what a run is computed from --------------------------------------------------------

def data_fingerprint(data_dir, data_format: str = "prepared") -> dict:
    """What a run reads, by content: every input file's SHA-256 (each file hashed once).

    ``prepared``: ``{"kind", "params", "params_hash", "label_file", "trials": {key: sha256}}``
    from the manifest and the trial files; ``features``: ``{"kind", "files": {path: sha256}}``
    (the label file and each trial's feature file, paths relative to ``data_dir``).
    """
    root = Path(data_dir)
    if data_format == "features":
        paths = [root / LABEL_FILE] + [find_feature_file(root, s, t) for s, t in read_labels(root / LABEL_FILE)]
        return {"kind": "features", "files": {str(p.relative_to(root)): sha256(p) for p in paths}}
    manifest = read_manifest(root)
    if manifest is None:
        raise EmokdError(f"{root}: no {MANIFEST}; run `python -m emokd prepare` first")
    check_complete(manifest, root / MANIFEST)
    trials = {}
    for key, entry in manifest["trials"].items():
        path = root / entry["file"]
        try:
            trials[key] = sha256(path)
        except OSError as err:
            raise EmokdError(f"{path}: prepared trial {key} is not readable ({err.strerror})") from None
    return {"kind": "prepared", "params": manifest["params"], "params_hash": manifest.get("params_hash"),
            "label_file": (manifest.get("label_file") or {}).get("sha256"), "trials": trials}


def fingerprint_id(data: dict) -> str:
    """A short content hash of a :func:`data_fingerprint`: a fold record's ``data_id``."""
    import hashlib

    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


def _flat(obj, prefix: str = "") -> dict:
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            out.update(_flat(v, f"{prefix}{k}."))
        return out
    return {prefix[:-1]: obj}


def _listed(items: list[str], n: int = 3) -> str:
    return ", ".join(items[:n]) + (f" (+{len(items) - n} more)" if len(items) > n else "")


def config_changes(old: dict | None, new: dict) -> list[str]:
    """``["seed 0 -> 1", ...]``: the fields in which two configurations (JSON) differ."""
    if not isinstance(old, dict):
        return ["no configuration recorded"]
    a, b = _flat(old), _flat(new)
    return [f"{k} {a.get(k, '(none)')!r} -> {b.get(k, '(none)')!r}" for k in sorted(set(a) | set(b))
            if a.get(k) != b.get(k)]


def data_changes(old: dict | None, new: dict) -> list[str]:
    """What differs between two :func:`data_fingerprint` values, in words."""
    if isinstance(old, str) and isinstance(new, str):  # the short ids of fold.json (data_id)
        return [f"fingerprint {old} -> {new}"]
    if not isinstance(old, dict):
        return ["no data fingerprint recorded (an older emokd's run)"]
    if old.get("kind") != new.get("kind"):
        return [f"data kind {old.get('kind')!r} -> {new.get('kind')!r}"]
    out = []
    if new["kind"] == "prepared":
        out += [f"prepare parameter {c}" for c in config_changes(old.get("params"), new["params"])]
        if old.get("label_file") != new.get("label_file"):
            out.append("label file")
        files_old, files_new, what = old.get("trials", {}), new["trials"], "trial"
    else:
        files_old, files_new, what = old.get("files", {}), new["files"], "file"
    added = sorted(set(files_new) - set(files_old))
    gone = sorted(set(files_old) - set(files_new))
    changed = sorted(k for k in set(files_old) & set(files_new) if files_old[k] != files_new[k])
    if changed:
        out.append(f"{what}s with other contents: {_listed(changed)}")
    if added:
        out.append(f"{what}s added: {_listed(added)}")
    if gone:
        out.append(f"{what}s removed: {_listed(gone)}")
    return out


def check_same(where, stored_config, stored_data, cfg_json: dict, data: dict) -> None:
    """Raise EmokdError when ``where`` holds a run of another configuration or other data."""
    changes = []
    if stored_config != cfg_json:
        changes.append("configuration: " + _listed(config_changes(stored_config, cfg_json)))
    if stored_data != data:
        changes.append("data: " + _listed(data_changes(stored_data, data)))
    if changes:
        raise EmokdError(f"{where} holds a run computed from other inputs ({'; '.join(changes)}); rerun with "
                         "--fresh to discard it, or choose another --out")
