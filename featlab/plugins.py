"""Bring your own model: load a user's Python file that registers model families or data models.

    featlab run mlp-width-sweep --plugin my_models.py --set model.kind=my_model

A plugin is an ordinary Python file; importing it must register at least one model family
(:func:`featlab.models.register_family`) or data model (:func:`featlab.config.register_data`).
From Python, import the file yourself (or call :func:`load_plugin`) and use ``--set``-style keys
with :func:`featlab.run_experiment`.
"""

from __future__ import annotations

import hashlib
import importlib.util
import sys
from pathlib import Path

from featlab.config import DATA_KINDS, ConfigError

__all__ = ["load_plugin"]


def load_plugin(path: str | Path) -> list[str]:
    """Import the plugin file ``path``; returns the model/data kinds it registered.

    ConfigError naming ``--plugin`` if the file is missing, fails to import (the first line of the
    error is shown) or registers nothing. Loading the same file twice is a no-op."""
    import featlab.models  # noqa: F401  (built-in families first, so they are not counted)
    from featlab.models.family import FAMILIES

    path = Path(path)
    if not path.is_file() or path.suffix != ".py":
        raise ConfigError(f"--plugin={str(path)!r} is invalid: no such Python file; pass the path of "
                          f"a .py file that calls featlab.models.register_family")
    name = "featlab_plugin_" + hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:12]
    if name in sys.modules:
        return list(getattr(sys.modules[name], "__featlab_kinds__", []))
    before = {**DATA_KINDS, **{k: f for k, f in FAMILIES.items()}}
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as err:  # noqa: BLE001  (any error in user code becomes one line)
        del sys.modules[name]
        first = (str(err).splitlines() or [""])[0]
        raise ConfigError(f"--plugin={str(path)!r} is invalid: importing it failed with "
                          f"{type(err).__name__}: {first}") from None
    after = {**DATA_KINDS, **{k: f for k, f in FAMILIES.items()}}
    kinds = sorted(k for k, v in after.items() if before.get(k) is not v)
    if not kinds:
        del sys.modules[name]
        raise ConfigError(f"--plugin={str(path)!r} is invalid: it registers no model family or data "
                          f"model; call featlab.models.register_family(Family(...)) in it")
    module.__featlab_kinds__ = kinds
    return kinds
