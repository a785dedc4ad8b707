"""A sweep: a base :class:`~featlab.config.Setting`, named grid axes, and a number of seeds.

    sweep = fl.Sweep(setting, grid={"data.mu_norm": [0.5, 1, 2], "data.d": [200, 400]}, seeds=5)
    sweep.runs()   # 3 x 2 x 5 RunSpecs, each validated

Grid axes are dotted setting keys; their product times ``seeds`` gives the runs. Every run's
setting is built (and validated) up front, so a bad grid fails before anything is trained.
A *zipped* axis moves several fields together: its key joins them with commas and each value
is a tuple, e.g. ``{"optim.name,optim.lr": [("gd", 0.5), ("adam", 1e-3)]}`` (one axis of two
points, not a 2 x 2 product).
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from featlab.config import ConfigError, Setting, override, to_dict
from featlab.train.engine import RunSpec

__all__ = ["Sweep"]


def _freeze_grid(grid: Mapping[str, Sequence[Any]] | Sequence[tuple[str, Sequence[Any]]]) -> tuple:
    items = grid.items() if isinstance(grid, Mapping) else grid
    out = []
    for key, values in items:
        values = tuple(tuple(v) if isinstance(v, list) else v for v in values)
        if not values:
            raise ConfigError(f"grid axis {key!r} has no values; give at least one")
        out.append((key, values))
    return tuple(out)


def _expand(key: str, value: Any) -> dict[str, Any]:
    """{field: value} of one axis value; a zipped key "a,b" takes a tuple (v_a, v_b)."""
    keys = key.split(",")
    if len(keys) == 1:
        return {key: value}
    if not isinstance(value, (tuple, list)) or len(value) != len(keys):
        raise ConfigError(f"grid axis {key!r} zips {len(keys)} fields: each value must be a "
                          f"tuple of {len(keys)} values, got {value!r}")
    return dict(zip(keys, value))


def _check_axes_disjoint(grid: tuple) -> None:
    """Two axes may not set one field (e.g. ``data.d`` next to a zipped ``data.d,optim.lr``):
    the later axis would silently overwrite the earlier one's value in every run."""
    owner: dict[str, str] = {}
    for key, _ in grid:
        for f in key.split(","):
            if f in owner:
                raise ConfigError(f"grid axes {owner[f]!r} and {key!r} both set {f}: a zipped "
                                  f"axis moves its fields together; replace the axis "
                                  f"{owner[f]!r} instead of adding {key!r} (from Python: "
                                  f"Sweep.with_grid; from the CLI: edit it in the sweep file "
                                  f"that --dump-config prints)")
            owner[f] = key


@dataclass(frozen=True)
class Sweep:
    """Base setting x grid (ordered axes) x seeds.

    The seeds are ``seed_offset, ..., seed_offset + seeds - 1``: a preset re-run on fresh seeds
    (after a change of criterion, see CHECKS.md) uses a new offset, so no run is shared."""

    setting: Setting = field(default_factory=Setting)
    grid: Any = ()
    seeds: int = 1
    seed_offset: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "grid", _freeze_grid(self.grid))
        if not isinstance(self.seeds, int) or self.seeds < 1:
            raise ConfigError(f"seeds={self.seeds!r} is invalid: use an integer >= 1")
        if not isinstance(self.seed_offset, int) or self.seed_offset < 0:
            raise ConfigError(f"seed_offset={self.seed_offset!r} is invalid: use an integer >= 0")
        _check_axes_disjoint(self.grid)
        for key, values in self.grid:   # validate axis keys and every value eagerly
            for v in values:
                override(self.setting, _expand(key, v))

    @property
    def axes(self) -> list[str]:
        return [k for k, _ in self.grid]

    def points(self) -> list[dict[str, Any]]:
        """Grid points in row-major order of the axes."""
        keys = self.axes
        return [dict(zip(keys, combo)) for combo in itertools.product(*(v for _, v in self.grid))]

    def runs(self) -> list[RunSpec]:
        """Every (grid point, seed) as a validated RunSpec (built once per Sweep object: the
        sweep is frozen, and a 10^5-run grid takes about a second to validate)."""
        cached = self.__dict__.get("_runs")
        if cached is None:
            cached = self._build_runs()
            object.__setattr__(self, "_runs", cached)        # frozen: a cache, not state
        return list(cached)

    def __getstate__(self) -> dict[str, Any]:
        """Pickle without the cached runs (a worker rebuilds them if it needs them)."""
        return {k: v for k, v in self.__dict__.items() if k != "_runs"}

    def _build_runs(self) -> tuple[RunSpec, ...]:
        out = []
        for point in self.points():
            fields = {k: v for key, value in point.items() for k, v in _expand(key, value).items()}
            setting = override(self.setting, fields) if fields else self.setting
            frozen = tuple(point.items())
            out += [RunSpec(setting, seed, frozen)
                    for seed in range(self.seed_offset, self.seed_offset + self.seeds)]
        return tuple(out)

    def with_overrides(self, changes: Mapping[str, Any]) -> "Sweep":
        """Fix fields: a key that is a grid axis is removed from the grid and pinned."""
        for key, _ in self.grid:
            zipped = key.split(",")
            clash = [c for c in changes if c in zipped and len(zipped) > 1]
            if clash:
                raise ConfigError(f"{clash[0]} moves together with {', '.join(zipped)} on one grid "
                                  f"axis of this experiment; it cannot be pinned alone (replace "
                                  f"the whole axis from Python with Sweep.with_grid)")
        grid = tuple((k, v) for k, v in self.grid if k not in changes)
        return dataclasses.replace(self, setting=override(self.setting, dict(changes)), grid=grid)

    def with_grid(self, axes: Mapping[str, Sequence[Any]]) -> "Sweep":
        """Replace or add grid axes (order: existing axes first, new ones appended)."""
        grid = [(k, tuple(axes[k]) if k in axes else v) for k, v in self.grid]
        grid += [(k, tuple(v)) for k, v in axes.items() if k not in self.axes]
        return dataclasses.replace(self, grid=tuple(grid))

    def spec(self) -> dict[str, Any]:
        """JSON spec; settings other than the CNN ``Setting`` add their ``setting_type`` (e.g.
        "linear") so a stored sweep can be rebuilt. CNN specs are unchanged (same sweep ids)."""
        spec = {"setting": to_dict(self.setting), "grid": [[k, list(v)] for k, v in self.grid],
                "seeds": self.seeds}
        kind = getattr(type(self.setting), "SETTING_TYPE", None)
        if kind is not None:
            spec["setting_type"] = kind
        if self.seed_offset:                 # absent when 0: sweep ids of earlier stores unchanged
            spec["seed_offset"] = self.seed_offset
        return spec

    def fingerprint(self) -> str:
        """8 hex digits identifying the sweep (same command -> same id -> resume)."""
        return hashlib.sha256(json.dumps(self.spec(), sort_keys=True, default=str).encode()).hexdigest()[:8]
