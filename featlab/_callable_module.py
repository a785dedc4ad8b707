"""Packages that are also the function of the same name.

``featlab.train(sweep)`` and ``featlab.experiments()`` are public functions, and ``featlab.train``
and ``featlab.experiments`` are subpackages. A package attribute cannot be both, and binding the
function on ``featlab`` broke ``import featlab.train.tasks as t`` (Python resolves the dotted name
through the attribute). :func:`make_callable` makes the subpackage itself callable instead, so
both spellings work.
"""

from __future__ import annotations

import sys
import types
from typing import Callable

__all__ = ["make_callable"]


def make_callable(module_name: str, fn: Callable) -> None:
    """Calling the module ``module_name`` calls ``fn`` (same arguments, same result)."""

    class _CallableModule(types.ModuleType):
        def __call__(self, *args, **kwargs):
            return fn(*args, **kwargs)

    _CallableModule.__call__.__doc__ = fn.__doc__
    sys.modules[module_name].__class__ = _CallableModule
