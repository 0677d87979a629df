"""Backend instances and the choice among them.

`kcore` and `numpy` are two instances of the same API source (kcore/_api.py) over different
kernel providers; an external backend is any importable module that defines at least
`placeholder`, `variable` and `function`.
"""
from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import threading
import types

from kcore import _config, _kernels

_lock = threading.Lock()
_instances: dict = {}
# Names Keras's own loader keeps from its common module, whatever the backend defines.
COMMON = ("epsilon", "set_epsilon", "floatx", "set_floatx", "cast_to_floatx", "image_data_format",
          "set_image_data_format", "normalize_data_format", "image_dim_ordering", "set_image_dim_ordering",
          "backend")


def instance(name: str) -> types.ModuleType:
    """The `kcore` or `numpy` API instance (created once)."""
    with _lock:
        if name not in _instances:
            provider = {"kcore": _kernels.NATIVE, "numpy": _kernels.NUMPY}[name]
            path = os.path.join(os.path.dirname(__file__), "_api.py")
            spec = importlib.util.spec_from_file_location(f"kcore._api_{name}", path)
            mod = importlib.util.module_from_spec(spec)
            mod._K = provider
            sys.modules[spec.name] = mod
            spec.loader.exec_module(mod)
            _instances[name] = mod
        return _instances[name]


def public_names(mod) -> dict:
    return {k: v for k, v in vars(mod).items() if not k.startswith("__") and not isinstance(v, types.ModuleType)}


def load_external(name: str) -> dict:
    try:
        mod = importlib.import_module(name)
    except ImportError as e:
        raise ValueError(f"Unable to import backend : {name} ({e})") from None
    missing = [e for e in _config.REQUIRED_BACKEND_ENTRIES if not hasattr(mod, e)]
    if missing:
        raise ValueError(f"Invalid backend {name!r}. Missing required entries: {', '.join(missing)}")
    entries = public_names(mod)
    common = public_names(instance("kcore"))
    for k in COMMON:
        entries[k] = common[k]
    return entries


def namespace(name: str) -> dict:
    if name in _config.KCORE_BACKENDS:
        return public_names(instance(name))
    return load_external(name)
