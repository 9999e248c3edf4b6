"""Published numbers on MAHNOB-HCI continuous valence beside ours (issue 34, item 5).

``results/mahnob-features/comparators.json`` keeps the published entries, typed by hand from
their sources (each number with the table or section it was read at; a number that was not read
stays null, never estimated: :mod:`emokd.evaluation.comparators`). This script keeps them as they
are, checks them, rewrites the file's ``ours`` rows from the committed runs
(:func:`emokd.evaluation.comparators.our_rows`) and writes ``comparators.md`` beside it, the table
chapter 08 shows.

    python studies/comparators.py
"""

from __future__ import annotations

import argparse
from pathlib import Path

from emokd.core.fileio import write_json, write_text
from emokd.evaluation import comparators
from emokd.evaluation.collection import load_runs

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "results" / "mahnob-features"


def report(data: dict) -> list[str]:
    """The lines of ``comparators.md``."""
    lines = ["# Published comparators on MAHNOB-HCI continuous valence (issue 34)", "",
             "Written by `python studies/comparators.py` from `comparators.json` (do not edit by hand; edit the "
             f"`published` entries of the JSON, read on {data['read_on']}). A published number is quoted only "
             "where it was read in the source's text, at the location given; an empty cell was not read there "
             "and is not estimated. Our rows are the committed runs of this folder aligned with each published "
             "row: test scores, mean over every (seed, fold) score, concatenated (each fold's test trials as "
             "one sequence) and CCC per trial; the last column says what differs from the published row, so "
             "that unlike is not compared with like.", "",
             *comparators.markdown(data), "", "## Sources, as read", ""]
    for e in data["published"]:
        lines.append(f"- **{e['id']}**: {e['source']}. Read: {e['read']} ({e['url']}). "
                     f"Protocol: {e.get('protocol_text') or e['protocol'] or 'not read'}. "
                     f"Features: {e['features']}. Says: {e['claim']}."
                     + (f" Empty: {e['empty_because']}." if e["empty_because"] else ""))
    return lines + [""]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--results", type=Path, default=RESULTS)
    args = ap.parse_args(argv)
    path = args.results / "comparators.json"
    data = comparators.load(path)
    data["ours"] = comparators.our_rows(data, load_runs(args.results))
    write_json(path, data)
    lines = report(data)
    write_text(args.results / "comparators.md", "\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
