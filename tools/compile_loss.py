"""Time the CNN loss's elementwise passes (``cnn.loss_from_preacts``) eager and under
``torch.compile`` on the official grid's chunk shape (P = 1000 runs, 2m = 20, nK = 40), one
thread: ``python tools/compile_loss.py [P] [REPEATS]``. Prints the compile time and the seconds
per call of each, three rounds alternating, so the two are timed under the same load."""

from __future__ import annotations

import sys
import time

import torch

from featlab.experiments.kou2023_phase import official
from featlab.models.cnn import loss_from_preacts


def main(P: int = 1000, repeats: int = 50) -> None:
    torch.set_num_threads(1)
    cfg = official().setting.model
    M, nK, K = 2 * cfg.m, 40, 2
    g = torch.Generator().manual_seed(0)
    z = torch.randn(P, M, nK, generator=g)
    y = torch.randn(P, nK // K, generator=g).sign()
    w = torch.full((P, nK // K), K / nK)
    eager = lambda z: loss_from_preacts(cfg, z, K, y, w)  # noqa: E731
    t = time.perf_counter()
    compiled = torch.compile(eager, dynamic=False)
    compiled(z.clone())
    print(f"compile: {time.perf_counter() - t:.1f} s")
    for _ in range(3):
        for name, fn in (("eager", eager), ("compiled", compiled)):
            for _ in range(3):
                fn(z.clone())
            t = time.perf_counter()
            for _ in range(repeats):
                fn(z.clone())
            print(f"{name}: {(time.perf_counter() - t) / repeats * 1e3:.2f} ms per call")


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:]))
