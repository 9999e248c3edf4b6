#!/bin/bash
# The real-data runs of the "real data, examined" issue, in order, one at a time (nice, n_jobs 2).
# Each resumes where it stopped: from its run folder in this checkout, or from the fold records
# committed in results/mahnob-features/<run>/folds/ (a fresh checkout); a finished one is skipped.
# Log: emokd-runs/queue.log. Commit results/mahnob-features/ as folds finish.
#   setsid nohup studies/real_queue.sh >/dev/null 2>&1 &
# While you change emokd in the same checkout, run the queue from a worktree of a fixed commit
# instead, so that folds started later do not import the code you are editing:
#   git worktree add ../queue HEAD && (cd ../queue && PYTHONPATH=$PWD setsid nohup studies/real_queue.sh >/dev/null 2>&1 &)
# and copy ../queue/results/mahnob-features/ back before committing, then rewrite its README with this
# checkout's code: python studies/bench_real.py --report-only --data ../shared/data/mahnob-hci
# `nice` below does not yield to your shell's jobs: setsid gives the queue its own autogroup, and the
# kernel shares the CPU between autogroups first. To give the queue only the idle CPU:
#   echo 19 > /proc/<pid of real_queue.sh>/autogroup
cd "$(dirname "$0")/.." || exit 1
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"  # this checkout's emokd, installed or not
D=${EMOKD_MAHNOB_FEATURES:-../shared/data/mahnob-hci}
mkdir -p emokd-runs
# Order: the LOSO seeds of (a) and (b) that the seed-averaged tests need, then the kdsel runs; kdsel TRS
# (about 1 h) before paper LOSO seed 2 (about 2.5 h), so that the first kdsel result, and its check that
# the retrained base models equal the base run's (emokd.evaluation.collection.fold_agreement), land within one session.
for job in "book_subject loso 0" "book_subject trs 0" "paper trs 0" "paper loso 0" \
           "book_subject loso 1" "paper loso 1" "book_subject loso 2" "kdsel trs 0" "paper loso 2" "kdsel loso 1"; do
  set -- $job
  echo "=== $(date -u +%FT%T) $job" >> emokd-runs/queue.log
  nice -n 10 python studies/bench_real.py --configs "$1" --protocols "$2" --seeds "$3" --n-jobs 2 \
    --data "$D" >> emokd-runs/queue.log 2>&1 || echo "FAILED $job" >> emokd-runs/queue.log
done
