"""The coord-check bench trains the same runs both ways: the population's act_scale equals the
one-model-at-a-time nn.Sequential + hooks + torch.optim.SGD (muP per-group lr) reference."""

from __future__ import annotations

from featlab.bench_coord_check import coord_check_bench


def test_coord_check_bench_population_equals_hooked_reference():
    lines = []
    out = coord_check_bench("cpu", quick=True, say=lines.append)
    assert out["runs"] == 2 * 3 * 1 * 2 and out["chunks"] == 6          # one chunk per (par, width)
    assert out["max_rel_diff"] < 1e-4, out
    assert out["population_s"] > 0 and out["loop_s"] > 0
    assert len(lines) == 1 and "coord-check workload" in lines[0]
