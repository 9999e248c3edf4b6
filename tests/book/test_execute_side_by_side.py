"""book/_ext/execute_side_by_side.py: the chapters executed two at a time before Sphinx reads them, in
their stages, cached as myst-nb caches them (so myst-nb executes none again), and a failing chapter left
to myst-nb, which reports it as it always does."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "book" / "_ext"))

import execute_side_by_side  # noqa: E402


def test_the_plan_runs_the_stages_in_order_then_the_rest_in_sphinxs_order():
    names = ["book/01", "book/02", "book/03", "book/04", "book/05"]
    assert execute_side_by_side.plan(names, [["book/01", "book/02"], ["book/04"]]) == [
        ["book/01", "book/02"], ["book/04"], ["book/03", "book/05"]]
    # a stage's chapters that are cached already (not in the list) drop out, an emptied stage with them
    assert execute_side_by_side.plan(["book/03", "book/05"], [["book/01"], ["book/04"]]) == [["book/03", "book/05"]]
    assert execute_side_by_side.plan([], [["book/01"]]) == []


def test_the_book_executes_two_at_a_time_with_the_shared_experiment_alone():
    sphinx = yaml.safe_load((ROOT / "_config.yml").read_text())["sphinx"]
    assert sphinx["local_extensions"]["execute_side_by_side"] == "book/_ext"
    assert sphinx["config"]["emokd_execution_jobs"] == 2
    stages = sphinx["config"]["emokd_execution_stages"]
    # the first stage: the chapter that makes the data, beside chapters that never ask the book for it (a
    # chapter waiting for another would wait its turn, and a long wait prints a line on its page)
    assert stages[0][0] == "book/01_introduction"
    for name in stages[0][1:]:
        source = (ROOT / f"{name}.ipynb").read_text()
        assert "book.synthetic_data(" not in source and "book.experiment(" not in source, name
    # alone, in this order: the shared experiment, then the saliency of its students
    assert stages[1:] == [["book/04_teacher"], ["book/07_saliency"]]
    for stage in stages:
        for name in stage:
            assert (ROOT / f"{name}.ipynb").is_file(), name


def _notebook(name: str, log: Path, *, fail: bool = False):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_markdown_cell(f"# {name}"),
                nbformat.v4.new_code_cell(
                    "import json, os, time\n"
                    "print('threads', os.environ.get('OMP_NUM_THREADS'))\n"
                    f"t0 = time.time(); time.sleep(1.5)\n"
                    f"open({str(log)!r}, 'a').write(json.dumps([{name!r}, t0, time.time()]) + '\\n')\n"
                    + ("assert False, 'this chapter is broken on purpose'\n" if fail else "")
                    + f"print('output of {name}')")]
    return nb


def _build(tmp_path: Path, names, *, failing=()):
    cfg = yaml.safe_load((ROOT / "_config.yml").read_text())
    log = tmp_path / "times.jsonl"
    (tmp_path / "_config.yml").write_text(yaml.safe_dump({
        "title": "side by side", "execute": cfg["execute"], "only_build_toc_files": True,
        "sphinx": {"local_extensions": {"execute_side_by_side": str(ROOT / "book" / "_ext")},
                   "config": {"emokd_execution_jobs": 2, "emokd_execution_stages": [["a"]],
                              "suppress_warnings": ["mystnb.unknown_mime_type"]}}}))
    (tmp_path / "_toc.yml").write_text(yaml.safe_dump(
        {"format": "jb-book", "root": names[0], "chapters": [{"file": n} for n in names[1:]]}))
    for n in names:
        nbformat.write(_notebook(n, log, fail=n in failing), tmp_path / f"{n}.ipynb")
    jb = shutil.which("jupyter-book")
    assert jb, "jupyter-book is not installed (requirements.txt)"
    env = {k: v for k, v in os.environ.items() if k not in execute_side_by_side.THREAD_VARIABLES}
    proc = subprocess.run([jb, "build", str(tmp_path), "-W", "-n", "--keep-going"], capture_output=True, text=True,
                          timeout=600, cwd=tmp_path, env=env)
    runs = [json.loads(line) for line in log.read_text().splitlines()] if log.is_file() else []
    return proc, runs


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("jupyter-book") is None, reason="jupyter-book is not installed")
def test_stages_then_two_at_a_time_and_myst_nb_reads_them_from_the_cache(tmp_path):
    proc, runs = _build(tmp_path, ["a", "b", "c"])
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    when = {name: (t0, t1) for name, t0, t1 in runs}
    assert sorted(when) == ["a", "b", "c"] and len(runs) == 3  # each executed once: myst-nb used the cache
    assert when["a"][1] <= min(when["b"][0], when["c"][0])  # the stage before the rest
    assert max(when["b"][0], when["c"][0]) < min(when["b"][1], when["c"][1])  # b and c side by side
    assert out.count("Using cached notebook") == 3 and "Executing notebook" not in out
    for name in "abc":
        page = (tmp_path / "_build" / "html" / f"{name}.html").read_text()
        assert f"output of {name}" in page and "threads 1" in page  # one thread a kernel, two kernels at once


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("jupyter-book") is None, reason="jupyter-book is not installed")
def test_a_failing_chapter_is_executed_again_by_myst_nb_and_fails_the_build(tmp_path):
    proc, runs = _build(tmp_path, ["a", "b", "c"], failing=("c",))
    out = proc.stdout + proc.stderr + "".join(
        p.read_text() for p in (tmp_path / "_build" / "html" / "reports").rglob("*.log"))
    assert proc.returncode != 0, "the build passed although chapter c fails"
    assert "this chapter is broken on purpose" in out
    assert [name for name, *_ in runs].count("c") == 2  # here, then by myst-nb, which reports it
    assert [name for name, *_ in runs].count("b") == 1
