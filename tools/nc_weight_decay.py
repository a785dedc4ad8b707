"""Train two neural-collapse runs (seeds 1000, 1001) of one task and width at each weight decay
and print their training error over the log grid and NC1 from zero training error to the end:
``python tools/nc_weight_decay.py STEPS WIDTH {digits,mixture} WD[,WD...] [lr|mean_field]``.
This is how the session-9 change of ``optim.wd_scaling`` in neural-collapse was diagnosed
(CHECKS.md): at width 1024 the lr multiplier w = 16 of the mean-field row made the decay step 16x
the base one under ``lr``; ``mean_field`` is the same as wd / w under ``lr``."""

from __future__ import annotations

import sys
import time

import numpy as np

import featlab as fl
from featlab.experiments import neural_collapse as nc
from featlab.train.engine import RunSpec
from featlab.train.generic import train_chunk


def main(steps: int, width: int, kind: str, wds: str, scaling: str = "lr") -> None:
    task = dict(zip(nc.TASK_AXIS.split(","), nc.DIGITS if kind == "digits" else nc.MIXTURE))
    for wd in (float(x) for x in wds.split(",")):
        s = fl.override(nc._setting(steps), {**task, "model.width": width,
                                             "optim.weight_decay": wd, "optim.wd_scaling": scaling})
        t = time.perf_counter()
        res = train_chunk([RunSpec(s, 1000), RunSpec(s, 1001)])
        for i in range(2):
            mine = res.log_run == i
            err, step = res.log_values["train_error"][mine], res.log_step[mine]
            nc1 = res.log_values["nc1"][mine]
            fit = np.flatnonzero(err == 0)
            t0 = f"{nc1[fit[0]]:.3g} at step {step[fit[0]]}" if len(fit) else "never fitted"
            print(f"{kind} N = {width}, wd {wd:g} ({scaling}), seed {1000 + i}: train error "
                  + ", ".join(f"{a}: {b:.3f}" for a, b in zip(step[::4], err[::4]))
                  + f"; final {err[-1]:.3f}; NC1 {t0} -> {nc1[-1]:.3g} at the end")
        print(f"  {time.perf_counter() - t:.0f} s")


if __name__ == "__main__":
    a = sys.argv[1:]
    main(int(a[0]), int(a[1]), a[2], a[3], *(a[4:5]))
