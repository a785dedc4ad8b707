"""Measurements behind BENCHMARKS.md "Session 6 (issue 12)": where the CNN population's time goes.

    python tools/population_profile.py profile          # cProfile of featlab.train on 1,200 official runs
    python tools/population_profile.py budget           # per-phase budget of 3,000 official runs + loop ratio
    python tools/population_profile.py end-to-end DIR   # 3,000 official runs into a store at DIR, timed

``end-to-end`` uses only APIs that existed before issue 12 (plan_chunks, train_chunk, Store), so
the same command times older code put first on ``PYTHONPATH``; two such stores compare run by run
with ``compare OLD NEW`` (every summary metric, matched by config hash).
"""

from __future__ import annotations

import cProfile
import pstats
import sys
import time


def _official(ds: list[int], mus: list[float] | None = None):
    from featlab.experiments.kou2023_phase import official
    from featlab.sweep import Sweep

    sw = official()
    mus = mus if mus is not None else dict(sw.grid)["data.mu_norm"]
    return Sweep(sw.setting, {"data.mu_norm": mus, "data.d": ds}, seeds=10).runs()


def profile() -> None:
    """6 d x 20 ||mu|| x 10 seeds of the official preset through featlab.train, profiled."""
    from featlab.train import train

    runs = _official([100, 300, 500, 700, 900, 1090], [round(0.5 * i, 1) for i in range(20)])
    train(runs[:50])                                            # warm-up
    prof = cProfile.Profile()
    t = time.perf_counter()
    prof.enable()
    train(runs)
    prof.disable()
    print(f"{len(runs)} runs: {time.perf_counter() - t:.2f} s under the profiler")
    pstats.Stats(prof).sort_stats("cumulative").print_stats(40)


def budget() -> None:
    """featlab.bench.time_budget of 3,000 official runs, and the per-run loop on every 50th."""
    from featlab import bench

    runs = bench.official_slice(3, 100, 10)
    bench.time_budget(runs[:20])                                 # warm-up
    ceiling = bench.matmul_ceiling("cpu", 1024)
    res = bench.time_budget(runs)
    sub = runs[::50]
    loop = len(sub) / bench.per_run_loop(sub)
    print({k: round(v, 3) if isinstance(v, float) else v for k, v in res.items()})
    print(f"ceiling {ceiling:.1f} GFLOP/s; steps {res['flops'] / res['steps'] / 1e9 / ceiling:.1%} of it; "
          f"per-run loop {loop:.2f} runs/s; ratio {res['runs_per_s'] / loop:.1f}x")


def end_to_end(folder: str) -> None:
    """Plan, train and store 3,000 official runs (d = 100, 600, 1090) into ``folder``."""
    import featlab
    from featlab.store import Store
    from featlab.train.population import plan_chunks, train_chunk

    runs = _official([100, 600, 1090])
    train_chunk([r for r in runs if r.setting.data.d == 100][:20])  # warm-up
    st = Store(folder)
    st.begin_sweep("b", experiment="kou2023-phase", preset="official", paper="", claim="", spec={},
                   n_runs=len(runs))
    t = time.perf_counter()
    chunks = plan_chunks(runs)
    for chunk in chunks:
        st.write_chunk("b", train_chunk(chunk))
    st.ingest("b")
    wall = time.perf_counter() - t
    print(f"{featlab.__file__}: {len(runs)} runs, {len(chunks)} chunks, {wall:.2f} s, "
          f"{len(runs) / wall:.1f} runs/s")


def compare(old: str, new: str) -> None:
    """Per-metric agreement of two stores' final metrics, matched by config hash."""
    import duckdb
    import numpy as np

    q = "SELECT r.config_hash, s.name, s.value FROM summary s JOIN runs r USING (run_id)"
    a = duckdb.connect(f"{old}/featlab.duckdb", read_only=True).sql(q).df()
    b = duckdb.connect(f"{new}/featlab.duckdb", read_only=True).sql(q).df()
    m = a.merge(b, on=["config_hash", "name"], suffixes=("_a", "_b"))
    print(f"rows {len(a)} / {len(b)}, matched {len(m)}")
    for name, g in m.groupby("name"):
        x, y = g["value_a"].to_numpy(float), g["value_b"].to_numpy(float)
        ok = np.isfinite(x) & np.isfinite(y)
        d = np.abs(x - y)[ok]
        rel = d / np.maximum(np.abs(x[ok]), 1e-30)
        print(f"{name:22s} runs {ok.sum():6d}  differ {int((d > 0).sum()):6d}  "
              f"max |diff| {d.max() if len(d) else 0:.3g}  max rel {rel.max() if len(rel) else 0:.3g}")


if __name__ == "__main__":
    cmd, *args = sys.argv[1:] or ["budget"]
    {"profile": profile, "budget": budget, "end-to-end": end_to_end, "compare": compare}[cmd](*args)
