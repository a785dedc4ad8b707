"""Train the bench MLP runs (featlab.bench.mlp_workload's setting) in chunks of given sizes; print seconds.

Usage: python tools/mlp_chunks.py P STEPS WIDTH N CHUNK [CHUNK ...]  (BENCHMARKS.md, session 8)
"""
import sys, time, torch
from featlab.config import MLP, OptimConfig, Setting, TrainConfig
from featlab.data.teacher_student import TeacherStudentData
from featlab.train.engine import RunSpec
from featlab.train.population import plan_chunks, train_chunk
P, steps, width, n = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
s = Setting(data=TeacherStudentData(n=n, d=16, n_test=n), model=MLP(depth=3, width=width),
            optim=OptimConfig(name="gd", lr=0.1), train=TrainConfig(steps=steps, log_points=1))
runs = [RunSpec(s, i) for i in range(P)]
print("default chunks", [len(c) for c in plan_chunks(runs, "cpu")][:5])
train_chunk(runs[:2], "cpu")
for cs in [int(x) for x in sys.argv[5:]]:
    t0 = time.perf_counter()
    for ch in plan_chunks(runs, "cpu", chunk_size=cs):
        train_chunk(ch, "cpu")
    print(f"chunk {cs}: {time.perf_counter()-t0:.2f} s", flush=True)
