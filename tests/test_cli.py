"""The command line: help, an end-to-end smoke run, and one-line errors."""

import json
import subprocess
import sys

import pytest

from emokd.__main__ import main


@pytest.mark.parametrize("args", [["--help"], ["synth", "--help"], ["prepare", "--help"]])
def test_help(args):
    result = subprocess.run([sys.executable, "-m", "emokd", *args], capture_output=True, text=True)
    assert result.returncode == 0 and "usage: python -m emokd" in result.stdout


def test_synth_and_prepare_smoke(tmp_path, capsys):
    out = tmp_path / "data"
    assert main(["synth", "--preset", "smoke", "--seed", "5", "--out", str(out)]) == 0
    assert "wrote 6 trials of 3 subjects" in capsys.readouterr().out
    assert main(["prepare", str(out), "--quiet"]) == 0
    text = capsys.readouterr().out
    assert "prepared 6 trials of 3 subjects" in text and "(0 already prepared, 0 failed)" in text
    assert len(json.loads((out / "prepared" / "manifest.json").read_text())["trials"]) == 6


def test_synth_planted_options(tmp_path, capsys):
    out = tmp_path / "data"
    args = ["synth", "--preset", "smoke", "--out", str(out), "--planted-bands", "8-12",
            "--planted-channels", "Fp1,Fp2", "--eeg-gain", "1.2", "--emg-leakage", "0.5"]
    assert main(args) == 0
    truth = json.loads((out / "ground_truth.json").read_text())
    assert truth["config"]["pattern"] == [{"lo_hz": 8.0, "hi_hz": 12.0, "channels": ["Fp1", "Fp2"], "weight": 1.0}]
    assert truth["config"]["eeg_gain"] == 1.2 and truth["config"]["emg_leakage"] == 0.5
    alpha = truth["truth_map"][2]
    assert [c for c, w in zip(truth["channels"], alpha) if w > 0] == ["Fp1", "Fp2"]


@pytest.mark.parametrize(
    "args, message",
    [
        (["synth", "--preset", "huge", "--out", "x"], "invalid choice: 'huge'"),
        (["synth", "--out", "x", "--planted-bands", "alpha"], "bands must look like '18-30,30-45'"),
        (["synth", "--out", "x", "--planted-channels", "Fp1,Q7"], "unknown channel(s) ['Q7']"),
        (["synth", "--out", "x", "--planted-bands", "30-300"], "planted band 30-300 Hz"),
        (["prepare", "/nonexistent/folder"], "lable_continous_Mahnob.mat: label file not found"),
    ],
)
def test_bad_arguments_give_one_line_errors(args, message):
    result = subprocess.run([sys.executable, "-m", "emokd", *args], capture_output=True, text=True)
    assert result.returncode == 2
    last = result.stderr.strip().splitlines()[-1]
    assert message in last and "Traceback" not in result.stderr
