#!/bin/bash
# Every declared study that still has runs to do, resumed where it stopped (issues 33 and 34), in two
# chains that share the 2 cores: the synthetic teacher-pays cohorts (one fold at a time), and the real-data
# runs (two folds at a time): teacher-pays, then the network controls (about 10 h: chapters 07 and 08 wait
# for them), then the under-training study (days on this machine: 240-epoch students).
# Each driver skips finished runs and resumes the others from the fold records committed under
# results/<study>/runs/<run>/folds/; commit those as folds finish (git add results/*/runs).
#   setsid nohup studies/resume_studies.sh >/dev/null 2>&1 &
# Logs: emokd-runs/<study>/driver-*.log. Pause both chains for a quiet benchmark and resume them:
#   for sid in $(pgrep -f studies/resume_studies.sh); do pkill -STOP -s $sid; done   (-CONT to resume)
cd "$(dirname "$0")/.." || exit 1
mkdir -p emokd-runs/teacher-pays emokd-runs/under-training emokd-runs/network-controls
python studies/teacher_pays.py --only synthetic --n-jobs 1 > emokd-runs/teacher-pays/driver-synth.log 2>&1 &
{
  python studies/teacher_pays.py --only real > emokd-runs/teacher-pays/driver-real.log 2>&1
  python studies/network_controls.py > emokd-runs/network-controls/driver.log 2>&1
  python studies/under_training.py > emokd-runs/under-training/driver.log 2>&1
} &
wait
