"""Occlusion of a TCN student: Captum's FeatureAblation against emokd's linear-first-block path.

``emokd.saliency.attribution.occlusion`` occludes each of the 192 features of a trial (set to 0 over the
whole trial) and records how the windowed, overlap-averaged prediction changes. For the TCN
student it computes the first block's convolution and residual path once and subtracts each
feature's contribution (``engine="auto"``), instead of running the occluded input through the
whole network with Captum (``engine="captum"``). Both engines run on the same student (the book
preset's architecture, seeded weights: the cost does not depend on them) and the same trial
(300 steps, standard normal: z-scored inputs), alternating, one thread; the figure is the ratio
of their median CPU times, and the largest difference of their attributions relative to the
largest attribution.

Run:  python benchmarks/bench_occlusion.py [--repeats 6] [--steps 300]
Writes benchmarks/results/occlusion.json.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from _results import write_result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=6)
    ap.add_argument("--steps", type=int, default=300)
    args = ap.parse_args()
    import torch

    from emokd.saliency import attribution
    from emokd.core.config import ModelConfig
    from emokd.nn.models import build_model

    torch.set_num_threads(1)
    torch.manual_seed(0)
    student = build_model(ModelConfig(arch="tcn")).eval()
    x = np.random.default_rng(0).standard_normal((args.steps, 192)).astype(np.float32)
    seconds = {"captum": [], "auto": []}
    out = {}
    for _ in range(args.repeats):
        for engine in ("auto", "captum"):
            t = time.process_time()
            out[engine] = attribution.occlusion(student, x, engine=engine)
            seconds[engine].append(round(time.process_time() - t, 3))
    med = {k: float(np.median(v)) for k, v in seconds.items()}
    rel = float(np.abs(out["auto"] - out["captum"]).max() / np.abs(out["captum"]).max())
    result = {"steps": args.steps, "features": 192, "threads": 1, "cpu_seconds": seconds, "median_s": med,
              "speedup": round(med["captum"] / med["auto"], 2), "max_rel_diff": rel}
    print(f"captum {med['captum']:.2f} s, linear first block {med['auto']:.2f} s (medians of {args.repeats}): "
          f"{result['speedup']}x; max |difference| / max |attribution| {rel:.1e}")
    print("wrote", write_result("occlusion", result))


if __name__ == "__main__":
    main()
