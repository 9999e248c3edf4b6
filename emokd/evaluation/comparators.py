"""Published numbers on MAHNOB-HCI continuous valence beside ours, each with where it was read.

``results/mahnob-features/comparators.json`` holds two lists:

- ``published``: one entry per published result (a paper, or the first author's own code
  README), typed by hand from the source it names. Each has ``source`` (the full citation),
  ``url`` and ``read`` (what of the source was actually seen), ``location`` (the table and row,
  or section, where its numbers are printed), ``model``, ``protocol`` (``"LOSO"``, ``"TRS"`` or
  null when not read), ``folds``, ``features``, ``scheme`` (``"concatenated"``, ``"per trial"``
  or null when the source does not say), ``numbers`` (``{"ccc", "pcc", "rmse"}``, each a float
  or null), ``claim`` (what the source says in words) and ``empty_because`` (why every number
  is null, where they are). A number is quoted only where it was read in the source's text;
  one that was not stays null, never estimated (:func:`check` enforces the bookkeeping).
  ``align`` names the runs of ours to set beside it (configuration, protocol, model) and says
  in one line what differs.
- ``ours``: those runs' test scores, written by :func:`our_rows` from the committed runs
  (``python studies/comparators.py``): mean over every (seed, fold) score of the configuration
  and protocol, concatenated (each fold's test trials as one sequence) and per trial.

:func:`table` joins the two into the rows that chapter 08 and ``comparators.md`` show, every
cell read from the file::

    data = comparators.load("results/mahnob-features/comparators.json")
    comparators.table(data)          # DataFrame: one published row, then its aligned rows of ours
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..errors import EmokdError

__all__ = ["METRICS", "load", "check", "our_rows", "table", "markdown"]

#: the scores a published entry may quote, in the order of the table's columns
METRICS = ("ccc", "pcc", "rmse")
#: the fields every published entry has
_FIELDS = ("id", "label", "source", "url", "read", "location", "model", "protocol", "folds", "features", "scheme",
           "numbers", "claim", "empty_because", "align")


def check(data: dict, *, path="comparators.json") -> dict:
    """``data`` unchanged if every published entry is complete; otherwise an EmokdError naming the entry.

    Complete: every field of ``_FIELDS``; every metric of :data:`METRICS` in ``numbers``, a float
    or null; a ``source``, ``url`` and ``location`` wherever a number is quoted; an
    ``empty_because`` wherever none is; a one-line ``differs`` for every aligned run of ours.
    """
    seen = set()
    for e in data.get("published", []):
        name = f"{path}: published entry {e.get('id', '?')!r}"
        missing = [k for k in _FIELDS if k not in e]
        if missing:
            raise EmokdError(f"{name} lacks {', '.join(missing)}")
        if e["id"] in seen:
            raise EmokdError(f"{name} appears twice")
        seen.add(e["id"])
        if set(e["numbers"]) != set(METRICS):
            raise EmokdError(f"{name}: numbers must have exactly {', '.join(METRICS)}, not {sorted(e['numbers'])}")
        quoted = {k: v for k, v in e["numbers"].items() if v is not None}
        if any(not isinstance(v, (int, float)) for v in quoted.values()):
            raise EmokdError(f"{name}: a number is not a number: {quoted}")
        if quoted and not all(str(e[k] or "").strip() for k in ("source", "url", "location")):
            raise EmokdError(f"{name} quotes {quoted} without a source, url and location to read it at")
        if not quoted and not str(e["empty_because"] or "").strip():
            raise EmokdError(f"{name} quotes no number and does not say why (empty_because)")
        for a in e["align"]:
            if not {"configuration", "protocol", "model", "differs"} <= set(a) or "\n" in a["differs"]:
                raise EmokdError(f"{name}: an aligned run needs configuration, protocol, model and a one-line "
                                 f"differs: {a}")
    return data


def load(path) -> dict:
    """The comparators file at ``path``, checked (:func:`check`)."""
    path = Path(path)
    if not path.is_file():
        raise EmokdError(f"{path}: no comparators file")
    return check(json.loads(path.read_text()), path=path)


def our_rows(data: dict, runs) -> list[dict]:
    """Our scores for every run that a published entry aligns with, from the committed ``runs``.

    ``runs``: :func:`emokd.evaluation.collection.load_runs`. One row per distinct (configuration,
    protocol, model): its seeds, folds per seed, the mean over every (seed, fold) score of CCC,
    PCC and RMSE, concatenated, and of CCC per trial; ``run_folders``, the runs it reads. A
    configuration, protocol or model that no committed run has is left out.
    """
    from .collection import groups

    by_group = groups(runs)
    rows, done = [], set()
    for e in data["published"]:
        for a in e["align"]:
            key = (a["configuration"], a["protocol"], a["model"])
            group = by_group.get(key[:2])
            if key in done or not group or not all(key[2] in r.results["models"] + r.results.get("references", [])
                                                   for r in group):
                continue
            done.add(key)

            def mean(metric, scheme="concatenated"):
                return float(np.nanmean(np.concatenate([r.fold_scores(key[2], scheme, metric) for r in group])))

            rows.append({"configuration": key[0], "protocol": key[1], "model": key[2],
                         "seeds": ",".join(str(r.seed) for r in group), "folds": int(group[0].results["n_folds"]),
                         "scheme": "concatenated", **{m: mean(m) for m in METRICS},
                         "ccc_per_trial": mean("ccc", "per_trial"),
                         "run_folders": [f"results/mahnob-features/{r.name}" for r in group]})
    return rows


def _folders(paths: list[str]) -> str:
    """``a/x_seed0, a/x_seed1`` as ``a/x_seed{0,1}``: the run folders of one row, short."""
    stems = {p.rstrip("0123456789") for p in paths}
    if len(paths) > 1 and len(stems) == 1:
        return f"{stems.pop()}{{{','.join(p[len(p.rstrip('0123456789')):] for p in paths)}}}"
    return ", ".join(paths)


def _number(value) -> str:
    return "" if value is None else f"{value:.3f}"


def table(data: dict):
    """The comparison, one published row and then the rows of ours aligned with it (DataFrame).

    Columns: row (the source or our run), model, protocol, scheme, CCC, PCC, RMSE, CCC per trial,
    where (the location of a published number, the run folders of ours) and differs (for our
    rows: what differs from the published row above). An empty cell was not read in the source
    (its ``empty_because`` is in ``where``) or does not apply.
    """
    import pandas as pd

    ours = {(r["configuration"], r["protocol"], r["model"]): r for r in data.get("ours", [])}
    rows = []
    for e in data["published"]:
        rows.append({"row": e["label"], "model": e["model"], "protocol": e["protocol"] or "",
                     "scheme": e["scheme"] or "not stated",
                     **{m.upper(): _number(e["numbers"][m]) for m in METRICS}, "CCC per trial": "",
                     "where": e["location"] or f"empty: {e['empty_because']}", "differs": ""})
        for a in e["align"]:
            r = ours.get((a["configuration"], a["protocol"], a["model"]))
            if r is None:
                continue
            rows.append({"row": f"ours: {r['configuration']} {r['protocol'].upper()} (seeds {r['seeds']})",
                         "model": r["model"], "protocol": r["protocol"].upper(), "scheme": r["scheme"],
                         **{m.upper(): _number(r[m]) for m in METRICS},
                         "CCC per trial": _number(r["ccc_per_trial"]),
                         "where": _folders(r["run_folders"]), "differs": a["differs"]})
    return pd.DataFrame(rows, columns=["row", "model", "protocol", "scheme", *(m.upper() for m in METRICS),
                                       "CCC per trial", "where", "differs"])


def markdown(data: dict) -> list[str]:
    """:func:`table` as the lines of a Markdown pipe table (``|`` in a cell escaped)."""
    from ..core.tables import markdown_table

    frame = table(data).map(lambda v: str(v).replace("|", "\\|"))
    return markdown_table(frame, right=("CCC", "PCC", "RMSE", "CCC per trial"))
