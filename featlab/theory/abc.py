r"""abc-parametrizations of an MLP and their infinite-width limit (Yang & Hu, TP IV).

An MLP with L hidden layers of width n (L + 1 weight matrices; featlab's ``model.depth`` = L + 1)
is parametrized by exponents (a_l, b_l), l = 1..L+1, and c (Yang & Hu, "Feature Learning in
Infinite-Width Neural Networks", arXiv 2011.14522, Def. 3.1):

    W^l = n^{-a_l} w^l,   w^l_{ij} ~ N(0, n^{-2 b_l}),   SGD:  w^l <- w^l - \eta n^{-c} \nabla_{w^l} L.

Def. 3.2 (the *feature-update exponent*; after one SGD step the features move by \Theta(n^{-r})):

    r = \min(a_{L+1} + b_{L+1},\; 2 a_{L+1} + c) + c - 1 + \min_{l \le L} [2 a_l + 1(l = 1)].

Thm 3.3 (stability: nothing blows up as n -> infinity) holds iff
(1) a_1 + b_1 = 0, a_l + b_l = 1/2 for 2 <= l <= L, a_{L+1} + b_{L+1} >= 1/2 (init);
(2) r >= 0; (3) 2 a_{L+1} + c >= 1 and a_{L+1} + b_{L+1} + r >= 1.
Nontrivial (the function moves in the limit) iff a_{L+1} + b_{L+1} + r = 1 or 2 a_{L+1} + c = 1.
Thm 3.5: a stable, nontrivial parametrization learns features iff r = 0 and is in the kernel
regime iff r > 0 (dichotomy: no parametrization does both).

Symmetry (TP IV, Eq. (5)): (a_l + theta, b_l - theta, c - 2 theta) gives the same SGD dynamics.

Named rows (checked by hand against TP IV): SP with lr ~ 1/n (r = 1/2, kernel), NTP
(r = 1/2, kernel), muP (r = 0, feature learning), mean field for L = 1 (r = 0); SP at a
width-independent lr (featlab's ``sp``) has r = -1: unstable. Mean field for L > 1 is featlab's
extension, muP shifted by theta = 1/2 (the L = 1 mean field is exactly that shift), not a TP IV row.

Scope: SGD only. TP IV's r, stability and nontriviality are derived for SGD; the Adam rows of
TP V (arXiv 2203.03466, Table 3) give per-layer init and lr for sp and muP only, and no Adam r has
been verified against the papers, so :func:`classify` refuses Adam-like optimizers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from featlab.config import ConfigError

__all__ = ["ABC", "NAMED", "named", "parse_abc", "r_value", "conditions", "classify", "shift"]

_TOL = 1e-9


@dataclass(frozen=True)
class ABC:
    """Exponents a = (a_1..a_{L+1}), b = (b_1..b_{L+1}) and c (module docstring)."""

    a: tuple[float, ...]
    b: tuple[float, ...]
    c: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "a", tuple(float(v) for v in self.a))
        object.__setattr__(self, "b", tuple(float(v) for v in self.b))
        object.__setattr__(self, "c", float(self.c))
        if len(self.a) < 2 or len(self.a) != len(self.b):
            raise ConfigError(f"model.abc has {len(self.a)} a's and {len(self.b)} b's: give one "
                              f"(a_l, b_l) per weight layer, at least 2 layers")
        if not all(math.isfinite(v) for v in (*self.a, *self.b, self.c)):
            raise ConfigError("model.abc has a non-finite exponent: use finite numbers")

    @property
    def L(self) -> int:
        """Number of hidden layers (weight layers - 1)."""
        return len(self.a) - 1

    def text(self) -> str:
        """The ``model.abc`` string of these exponents."""
        f = lambda xs: ",".join(f"{x:g}" for x in xs)  # noqa: E731
        return f"a={f(self.a)};b={f(self.b)};c={self.c:g}"


def _eq(x: float, y: float) -> bool:
    return abs(x - y) <= _TOL


def r_value(p: ABC) -> float:
    """TP IV Def. 3.2: r = min(a_{L+1} + b_{L+1}, 2 a_{L+1} + c) + c - 1 + min_{l<=L}(2 a_l + 1(l=1))."""
    a, b, c, L = p.a, p.b, p.c, p.L
    inner = min(2 * a[l] + (1.0 if l == 0 else 0.0) for l in range(L))
    return min(a[L] + b[L], 2 * a[L] + c) + c - 1 + inner


def conditions(p: ABC) -> dict[str, bool]:
    """Each condition of TP IV Thm 3.3 (stability) by its formula: True when it holds."""
    a, b, c, L, r = p.a, p.b, p.c, p.L, r_value(p)
    out = {"a_1 + b_1 = 0": _eq(a[0] + b[0], 0.0)}
    if L >= 2:
        out["a_l + b_l = 1/2 (2 <= l <= L)"] = all(_eq(a[l] + b[l], 0.5) for l in range(1, L))
    out["a_{L+1} + b_{L+1} >= 1/2"] = a[L] + b[L] >= 0.5 - _TOL
    out["r >= 0"] = r >= -_TOL
    out["2 a_{L+1} + c >= 1"] = 2 * a[L] + c >= 1 - _TOL
    out["a_{L+1} + b_{L+1} + r >= 1"] = a[L] + b[L] + r >= 1 - _TOL
    return out


def classify(p: ABC, optimizer: str = "sgd") -> dict:
    """r, stability, nontriviality and regime of ``p`` under SGD (TP IV Def. 3.2, Thm 3.3, 3.5).

    Returns {"r", "stable", "nontrivial", "regime", "violated"}: regime is "feature learning"
    (stable, nontrivial, r = 0), "kernel" (stable, nontrivial, r > 0), "trivial" (stable, the
    function does not move in the limit) or "unstable"; ``violated`` lists the failed conditions.
    """
    from featlab.models.mlp import ADAM_LIKE

    if optimizer in ADAM_LIKE:
        raise ConfigError(f"optim.name={optimizer!r} is invalid for the abc classification: TP IV's "
                          f"r and stability are derived for SGD (no verified Adam r); use gd, sgd "
                          f"or momentum")
    a, b, c, L, r = p.a, p.b, p.c, p.L, r_value(p)
    cond = conditions(p)
    stable = all(cond.values())
    nontrivial = _eq(a[L] + b[L] + r, 1.0) or _eq(2 * a[L] + c, 1.0)
    if not stable:
        regime = "unstable"
    elif not nontrivial:
        regime = "trivial"
    else:
        regime = "feature learning" if _eq(r, 0.0) else "kernel"
    return {"r": 0.0 if _eq(r, 0.0) else r, "stable": stable, "nontrivial": nontrivial,
            "regime": regime, "violated": [k for k, ok in cond.items() if not ok]}


def shift(p: ABC, theta: float) -> ABC:
    """The TP IV symmetry (a_l + theta, b_l - theta, c - 2 theta): the same SGD dynamics."""
    return ABC(tuple(x + theta for x in p.a), tuple(x - theta for x in p.b), p.c - 2 * theta)


def _sp(L: int, c: float) -> ABC:
    return ABC((0.0,) * (L + 1), (0.0,) + (0.5,) * L, c)


def _ntk(L: int) -> ABC:
    return ABC((0.0,) + (0.5,) * L, (0.0,) * (L + 1), 0.0)


def _mup(L: int) -> ABC:
    return ABC((-0.5,) + (0.0,) * (L - 1) + (0.5,), (0.5,) * (L + 1), 0.0)


def _mf(L: int) -> ABC:
    return shift(_mup(L), 0.5)


#: The named rows: name -> (exponents for L hidden layers, what it is).
NAMED = {
    "sp": (lambda L: _sp(L, 0.0), "standard parametrization, lr independent of width (featlab's sp)"),
    "sp-lr1/n": (lambda L: _sp(L, 1.0), "standard parametrization with lr ~ 1/n"),
    "ntk": (_ntk, "neural tangent parametrization"),
    "mup": (_mup, "maximal-update parametrization"),
    "mf": (_mf, "mean field (L = 1); for L > 1 featlab's muP shifted by theta = 1/2"),
}


def named(name: str, n_layers: int) -> ABC:
    """The exponents of a named row for an MLP with ``n_layers`` = L + 1 weight layers."""
    if name not in NAMED:
        raise ConfigError(f"parametrization {name!r} has no named abc row; choose one of "
                          f"{', '.join(NAMED)}")
    if n_layers < 2:
        raise ConfigError(f"model.depth={n_layers!r} is invalid: use >= 2 weight layers")
    return NAMED[name][0](n_layers - 1)


def parse_abc(text: str, n_layers: int) -> ABC:
    """``model.abc`` ("a=-0.5,0,0.5;b=0.5,0.5,0.5;c=0") for ``n_layers`` weight layers.

    a and b take one value per weight layer, or three (input, hidden, output) broadcast over the
    hidden layers of a deeper net."""
    fix = "use a=A1,..;b=B1,..;c=C with one a and b per weight layer (or input,hidden,output)"
    parts: dict[str, list[float]] = {}
    for item in filter(None, (t.strip() for t in str(text).split(";"))):
        key, eq, values = item.partition("=")
        try:
            nums = [float(v) for v in values.split(",")]
        except ValueError:
            nums = []
        if not eq or key.strip() not in ("a", "b", "c") or not nums:
            raise ConfigError(f"model.abc={text!r} is invalid: {fix}")
        parts[key.strip()] = nums
    if set(parts) != {"a", "b", "c"} or len(parts["c"]) != 1:
        raise ConfigError(f"model.abc={text!r} is invalid: {fix}")

    def per_layer(xs: list[float]) -> tuple[float, ...]:
        if len(xs) == n_layers:
            return tuple(xs)
        if len(xs) == 3 and n_layers >= 3:
            return (xs[0],) + (xs[1],) * (n_layers - 2) + (xs[2],)
        raise ConfigError(f"model.abc={text!r} is invalid: model.depth={n_layers} needs {n_layers} "
                          f"values of a and b (or 3: input, hidden, output)")

    return ABC(per_layer(parts["a"]), per_layer(parts["b"]), parts["c"][0])
