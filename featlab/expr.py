r"""Safe arithmetic over a run's setting: the control parameters of a theory overlay.

A sweep file may name a control parameter such as ``n*snr^2`` (Kou et al. 2023: benign
overfitting iff :math:`n \cdot \mathrm{SNR}^2 = \Omega(1)`). :func:`compile_expr` parses it
with :mod:`ast` and accepts only numbers, variable names (bare ``n`` or dotted ``data.n``),
``+ - * / ^ **``, unary minus and the functions in :data:`FUNCTIONS`; nothing is ever passed
to ``eval``. :func:`variables` lists the names a setting offers: every numeric field of
:func:`featlab.config.flatten`, its last component when that is unique (``n`` for
``data.n``), and ``<field>_value`` properties standing in for a field left ``None`` (``snr``
is ``data.snr_value`` = ||mu|| / (sigma_p sqrt(d)) when only ``mu_norm`` was given).
"""

from __future__ import annotations

import ast
import dataclasses
import math
import operator
from dataclasses import dataclass
from typing import Any, Callable

from featlab.config import ConfigError, flatten

__all__ = ["Expr", "compile_expr", "variables", "FUNCTIONS"]

#: Functions a control parameter may call.
FUNCTIONS: dict[str, Callable[..., float]] = {
    "sqrt": math.sqrt, "log": math.log, "log2": math.log2, "log10": math.log10, "exp": math.exp,
    "abs": abs, "min": min, "max": max,
}
_BINARY = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
           ast.Div: operator.truediv, ast.Pow: operator.pow}
_UNARY = {ast.USub: operator.neg, ast.UAdd: operator.pos}


def _dotted(node: ast.AST) -> str | None:
    """``data.n`` from Attribute(Name('data'), 'n'); None for anything else."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        head = _dotted(node.value)
        return None if head is None else f"{head}.{node.attr}"
    return None


@dataclass(frozen=True)
class Expr:
    """A parsed control parameter: ``text`` as written, ``names`` it reads."""

    text: str
    tree: ast.Expression
    names: tuple[str, ...]

    def __call__(self, values: dict[str, float]) -> float:
        """Evaluate with ``values`` (name -> number); NaN where the math is undefined."""
        try:
            return float(self._eval(self.tree.body, values))
        except (ValueError, ZeroDivisionError, OverflowError, TypeError):
            return math.nan

    def _eval(self, node: ast.AST, values: dict[str, float]) -> float:
        if isinstance(node, ast.Constant):
            return float(node.value)                   # floats: 10^10^10 overflows, never hangs
        if isinstance(node, ast.BinOp):
            return _BINARY[type(node.op)](self._eval(node.left, values), self._eval(node.right, values))
        if isinstance(node, ast.UnaryOp):
            return _UNARY[type(node.op)](self._eval(node.operand, values))
        if isinstance(node, ast.Call):
            return FUNCTIONS[node.func.id](*(self._eval(a, values) for a in node.args))
        return values[_dotted(node)]


def _names(node: ast.AST, text: str) -> list[str]:
    """Validate the tree (only whitelisted nodes) and return the variable names it reads."""
    bad = f"control parameter {text!r} is invalid"
    if isinstance(node, ast.Constant):
        if isinstance(node.value, bool) or not isinstance(node.value, (int, float)):
            raise ConfigError(f"{bad}: {node.value!r} is not a number")
        return []
    if isinstance(node, ast.BinOp):
        if type(node.op) not in _BINARY:
            raise ConfigError(f"{bad}: only + - * / ^ are allowed")
        return _names(node.left, text) + _names(node.right, text)
    if isinstance(node, ast.UnaryOp):
        if type(node.op) not in _UNARY:
            raise ConfigError(f"{bad}: only unary minus is allowed")
        return _names(node.operand, text)
    if isinstance(node, ast.Call):
        if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS or node.keywords:
            raise ConfigError(f"{bad}: call one of {', '.join(FUNCTIONS)} with positional arguments")
        return [n for a in node.args for n in _names(a, text)]
    name = _dotted(node)
    if name is None:
        raise ConfigError(f"{bad}: use numbers, setting fields (n or data.n), + - * / ^ and "
                          f"{', '.join(FUNCTIONS)}")
    return [name]


def compile_expr(text: str, known: dict[str, float] | None = None) -> Expr:
    """Parse ``text`` (``^`` means power); with ``known`` every name it reads must be in it."""
    if not isinstance(text, str) or not text.strip():
        raise ConfigError(f"control parameter {text!r} is invalid: give an expression such as "
                          f"\"n * snr^2\"")
    try:
        tree = ast.parse(text.replace("^", "**"), mode="eval")
    except SyntaxError:
        raise ConfigError(f"control parameter {text!r} is not an arithmetic expression; write "
                          f"e.g. \"n * snr^2\"") from None
    names = tuple(dict.fromkeys(_names(tree.body, text)))
    if known is not None:
        for name in names:
            if name not in known:
                raise ConfigError(f"control parameter {text!r} reads {name!r}, which is not a "
                                  f"numeric field of the setting; use one of "
                                  f"{', '.join(sorted(known))}")
    return Expr(text, tree, names)


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def variables(setting: Any) -> dict[str, float]:
    """Name -> value of every number a control parameter may read from ``setting``."""
    flat = flatten(setting)
    for section in dataclasses.fields(setting):           # None fields -> their *_value property
        obj = getattr(setting, section.name)
        for f in dataclasses.fields(obj) if dataclasses.is_dataclass(obj) else ():
            key = f"{section.name}.{f.name}"
            if flat.get(key) is None and _number(getattr(obj, f"{f.name}_value", None)):
                flat[key] = getattr(obj, f"{f.name}_value")
    out = {k: float(v) for k, v in flat.items() if _number(v)}
    tails: dict[str, list[str]] = {}
    for key in out:
        tails.setdefault(key.rsplit(".", 1)[-1], []).append(key)
    out.update({tail: out[keys[0]] for tail, keys in tails.items() if len(keys) == 1 and tail not in out})
    return out
