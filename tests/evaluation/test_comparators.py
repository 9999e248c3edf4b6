"""emokd.evaluation.comparators and the committed results/mahnob-features/comparators.json.

The committed file: every quoted number has a source, a url and a location; every empty entry
says why; the first author's pre-publication numbers agree with results/teacher-pays/published.json
(chapter 05c's synthesis); the ``ours`` rows equal what the committed runs give now, recomputed here
with a plain loop over the fold records (an independent path from ``collection.fold_scores``).
"""

import copy
import json
from pathlib import Path

import numpy as np
import pytest

from emokd.errors import EmokdError
from emokd.evaluation import comparators

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "results" / "mahnob-features"
COMMITTED = RESULTS / "comparators.json"


@pytest.fixture(scope="module")
def data():
    return comparators.load(COMMITTED)


def test_every_quoted_number_has_a_source_and_a_location(data):
    quoted = 0
    for e in data["published"]:
        for metric, value in e["numbers"].items():
            if value is not None:
                quoted += 1
                assert e["source"].strip() and e["url"].startswith("http") and e["location"].strip(), e["id"]
        if all(v is None for v in e["numbers"].values()):
            assert e["empty_because"].strip(), e["id"]
    assert quoted, "no published number at all: update this test"


def test_every_published_row_has_its_aligned_rows_of_ours(data):
    ours = {(r["configuration"], r["protocol"], r["model"]) for r in data["ours"]}
    for e in data["published"]:
        assert e["align"], e["id"]
        for a in e["align"]:
            assert (a["configuration"], a["protocol"], a["model"]) in ours, (e["id"], a)


def test_the_pre_publication_numbers_agree_with_chapter_05c(data):
    published = json.loads((ROOT / "results" / "teacher-pays" / "published.json").read_text())["entries"]
    readme = {e["protocol"]: e for e in published if e["student_ccc"] is not None}
    phd2 = {e["id"]: e for e in data["published"] if e["id"].startswith("phd2-")}
    for protocol, e in readme.items():
        assert phd2[f"phd2-{protocol.lower()}-student"]["numbers"]["ccc"] == e["student_ccc"]
        assert phd2[f"phd2-{protocol.lower()}-kd"]["numbers"]["ccc"] == e["kd_student_ccc"]
    # chapter 05c quotes no number from Zhang et al. 2022's tables either
    assert all(e["student_ccc"] is None for e in published if e["source"].startswith("Zhang, Tang and Guan"))
    assert all(e["numbers"][m] is None for e in data["published"] if e["id"].startswith("zhang2022")
               for m in comparators.METRICS)


def test_our_rows_are_those_of_the_committed_runs(data):
    for row in data["ours"]:
        scores = {m: [] for m in (*comparators.METRICS, "ccc_per_trial")}
        for folder in row["run_folders"]:
            res = json.loads((ROOT / folder / "results.json").read_text())
            for fold in res["folds"]:
                m = fold["metrics"][row["model"]]
                for metric in comparators.METRICS:
                    scores[metric].append(m["concatenated"][metric])
                scores["ccc_per_trial"].append(m["per_trial"]["ccc"])
        for key, values in scores.items():
            assert row[key] == pytest.approx(np.nanmean(values), abs=1e-12), (row["configuration"], key)


def test_the_table_reads_every_cell_from_the_file(data):
    frame = comparators.table(data)
    published = frame[~frame["row"].str.startswith("ours:")]
    assert len(published) == len(data["published"])
    for (_, line), e in zip(published.iterrows(), data["published"]):
        for m in comparators.METRICS:
            value = e["numbers"][m]
            assert line[m.upper()] == ("" if value is None else f"{value:.3f}")
    assert comparators.markdown(data)[0].startswith("| row |")


def test_check_refuses_a_number_without_its_location(data):
    bad = copy.deepcopy(data)
    e = next(e for e in bad["published"] if e["location"])
    e["location"] = None
    with pytest.raises(EmokdError, match="without a source"):
        comparators.check(bad)
    bad = copy.deepcopy(data)
    e = next(e for e in bad["published"] if e["empty_because"])
    e["empty_because"] = ""
    with pytest.raises(EmokdError, match="does not say why"):
        comparators.check(bad)
    bad = copy.deepcopy(data)
    del bad["published"][0]["source"]
    with pytest.raises(EmokdError, match="lacks source"):
        comparators.check(bad)
