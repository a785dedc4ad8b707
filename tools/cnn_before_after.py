"""CNN analytic/span step times and the 300-run population time for the featlab on sys.path.

Usage: PYTHONPATH=DIR python tools/cnn_before_after.py TAG, DIR an export (git archive REV featlab)
of the code to time; alternate the old and new code (BENCHMARKS.md, session 8).
"""
import sys, featlab, torch
from featlab.bench import _bench_setting, _step_seconds, _workload, population_time
tag = sys.argv[1]
setting = _bench_setting(1000, 80, 20, 30)
pc, primal = _step_seconds(setting, "cpu", 30)
sc, span = _step_seconds(setting, "cpu", 30, span=True)
runs = _workload(10, 5, 6)
pop = min(population_time(runs, "cpu", None)[0] for _ in range(3))
pop_primal = min(population_time(runs, "cpu", False)[0] for _ in range(3))
print(f"{tag} {featlab.__file__}: P primal {len(pc)}, P span {len(sc)}: primal step {primal*1e3:.1f} ms, span step {span*1e3:.1f} ms, "
      f"300-run population span {pop:.3f} s, primal {pop_primal:.3f} s", flush=True)
