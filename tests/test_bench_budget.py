"""featlab bench's per-phase time budget of the official workload adds up and is measured."""

from __future__ import annotations

from featlab.bench import PHASES, official_slice, time_budget


def test_time_budget_phases_add_up_to_the_wall_time():
    runs = official_slice(2, 3, 2)                      # 12 runs of the official preset
    assert {r.setting.data.d for r in runs} == {100, 1090}
    res = time_budget(runs)
    assert res["runs"] == 12 and res["chunks"] == 2 and res["flops"] > 0
    parts = sum(res[k] for k in PHASES) + res["planning"]
    assert all(res[k] > 0 for k in PHASES), {k: res[k] for k in PHASES}
    assert 0.5 * res["total_s"] <= parts <= res["total_s"] * 1.001
