"""The shared engine (featlab.train.engine): structural keys partition runs exactly as the
flatten-based definition does, planning keeps order, and model families never share a chunk."""

from __future__ import annotations

import featlab as fl
from featlab.config import MLP, flatten
from featlab.data.teacher_student import TeacherStudentData
from featlab.experiments import get_experiment
from featlab.train import engine
from featlab.train.engine import RunSpec
from featlab.train.population import per_run_fields, plan_chunks, structural_key


def _flat_key(s) -> tuple:
    """The previous definition: every flattened field outside the per-run set."""
    free = per_run_fields(s)
    return tuple(sorted((k, v) for k, v in flatten(s).items() if k not in free))


def _partition(runs, key):
    groups: dict = {}
    for i, r in enumerate(runs):
        groups.setdefault(key(r.setting), []).append(i)
    return sorted(groups.values())


def test_structural_key_partitions_like_the_flattened_key():
    for name in ("optimizer-atlas", "chen2023-sam", "han2025-label-noise-stages"):
        runs = get_experiment(name).sweep("quick").runs()
        assert _partition(runs, structural_key) == _partition(runs, _flat_key), name


def test_plan_keeps_first_seen_order_and_splits_by_size():
    s = fl.Setting()
    runs = [RunSpec(fl.override(s, {"data.d": d}), seed) for seed in range(5) for d in (50, 60)]
    chunks = engine.plan_chunks(runs, structural_key, lambda g: 2)
    assert [[r.setting.data.d for r in c] for c in chunks] == [[50, 50], [50, 50], [50], [60, 60],
                                                               [60, 60], [60]]
    assert [r for c in chunks for r in c if r.setting.data.d == 50] == runs[0::2]


def test_families_and_widths_never_share_a_chunk():
    mlp = fl.Setting(data=TeacherStudentData(), model=MLP(width=8))
    runs = [RunSpec(mlp, 0), RunSpec(fl.override(mlp, {"model.width": 16}), 0),
            RunSpec(fl.override(mlp, {"model.init_scale": 2.0}), 1), RunSpec(fl.Setting(), 0)]
    chunks = plan_chunks(runs)
    assert sorted(len(c) for c in chunks) == [1, 1, 2]                      # init_scale is per run


def test_runspec_hash_is_the_config_hash():
    r = RunSpec(fl.Setting(), 7)
    assert r.hash == fl.config_hash(fl.Setting(), 7)
