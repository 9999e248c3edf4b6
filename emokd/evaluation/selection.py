"""Choosing a training budget on validation: :func:`emokd.training.train.fit`'s early stopping replayed on a log.

Training is deterministic and neither ``max_epochs`` nor ``early_stop`` changes an epoch
before a run stops, so a run with a shorter budget is a prefix of a longer run: its
outcome can be read off the longer run's log of validation CCCs without training again
(:func:`replay`). Among budgets so replayed, :func:`cheapest_within` applies the rule the
studies in ``studies/select_*.py`` fixed before their runs: the cheapest budget whose mean
best validation CCC is within :data:`TOLERANCE` of the best one's. Test scores play no part.

    replay([0.1, 0.3, 0.2, 0.25], max_epochs=40, early_stop=1, longest=(40, 8))
    # {'best_val_ccc': 0.3, 'best_epoch': 2, 'epochs_run': 3}
"""

from __future__ import annotations

import math

__all__ = ["TOLERANCE", "replay", "cheapest_within"]

#: the rule's tolerance: a budget within this much mean best validation CCC of the best one's is as good
TOLERANCE = 0.005


def replay(val_ccc, max_epochs: int, early_stop: int, longest: tuple[int, int]) -> dict:
    """What :func:`emokd.training.train.fit` keeps and runs under a budget, from a longer run's validation CCCs.

    ``val_ccc`` is the validation CCC of each epoch of a run made with the budget ``longest``
    (``(max_epochs, early_stop)``). Exact for budgets no longer than ``longest`` (both fields at most
    its): such a run stops no later than the longest one did, so its log holds every epoch. The best
    epoch so far is kept; the run stops at the first epoch more than ``early_stop`` epochs after it,
    or at ``max_epochs``. Returns ``best_val_ccc``, ``best_epoch`` (1-based) and ``epochs_run``.
    """
    if max_epochs > longest[0] or early_stop > longest[1]:
        raise ValueError(f"budget {(max_epochs, early_stop)} is longer than the logged one {longest}")
    best, best_epoch, run = -math.inf, 0, 0
    for epoch, v in enumerate(val_ccc[:max_epochs], start=1):
        if run and epoch - best_epoch > early_stop:
            break
        run = epoch
        if v > best:
            best, best_epoch = v, epoch
    return {"best_val_ccc": float(best), "best_epoch": best_epoch, "epochs_run": run}


def cheapest_within(rows: dict[str, dict], cost: str, tolerance: float = TOLERANCE) -> str:
    """The key of the row with the least ``rows[k][cost]`` among those whose ``mean_best_val_ccc`` is within
    ``tolerance`` of the best row's; a tie in cost goes to the higher validation CCC, then to the first row."""
    top = max(r["mean_best_val_ccc"] for r in rows.values())
    ok = [k for k, r in rows.items() if r["mean_best_val_ccc"] >= top - tolerance]
    return min(ok, key=lambda k: (rows[k][cost], -rows[k]["mean_best_val_ccc"]))
