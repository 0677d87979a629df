"""Unmodified Keras 2.3.1 on today's Python, NumPy and h5py: the smallest compatibility layer.

Keras 2.3.1 predates Python 3.10, NumPy 2 and h5py 3. `apply()` restores just what it uses of
them, and nothing else:

- `collections.Iterable`, `Mapping`, `Sequence`, ...: the ABC aliases Python 3.10 removed (Keras's
  callbacks and training utilities import them), as the `collections.abc` classes themselves.
- `numpy.Inf`, `numpy.string_`, `numpy.unicode_`: the names NumPy 2 removed, as `numpy.inf`,
  `numpy.bytes_` and `numpy.str_`.
- h5py attributes: h5py 3 returns strings as `str`, and Keras's saving code calls `.decode` on
  them. Reads made by Keras's own modules (`keras.*`) get `bytes` back, as h5py 2 gave them;
  every other caller's reads are unchanged.

- Keras's settings: Keras 2.x keeps floatx, epsilon and the image data format in
  `keras.backend.common`, kcore's ops read kcore's. When Keras runs on a kcore backend, Keras's
  `set_floatx`, `set_epsilon` and `set_image_data_format` set both (`link_settings`), and its
  `K.symbolic` and `K.eager` (no-ops outside TensorFlow: Keras's loader keeps them over the
  backend's) are kcore's: K.update* of plain values inside `K.symbolic` (the optimizers' updates,
  layers' and metrics' calls, `compile`) wait for a K.function to run them, as in TensorFlow's
  graph mode, so `K.update_add(self.iterations, 1)` runs at every training step, not once.

kcore applies it when Keras 2.x is imported in a process that has imported kcore, in either
order (kcore/_keras_hook.py), never in a process that does not use Keras. `import
kcore.keras_compat` (or `kcore.keras_compat.apply()`) applies it explicitly. Applying twice is
harmless.
"""
from __future__ import annotations

import collections
import collections.abc
import functools
import sys
import threading

import numpy as np

__all__ = ["applied", "apply", "link_settings"]

_COLLECTIONS_ABCS = ("Awaitable", "Callable", "Container", "Hashable", "ItemsView", "Iterable", "Iterator",
                     "KeysView", "Mapping", "MappingView", "MutableMapping", "MutableSequence", "MutableSet",
                     "Sequence", "Set", "Sized", "ValuesView")
_NUMPY_NAMES = {"Inf": np.inf, "string_": np.bytes_, "unicode_": np.str_}

_lock = threading.Lock()
_applied = False


def applied() -> bool:
    return _applied


def apply() -> None:
    """Restores what Keras 2.3.1 needs of older Python, NumPy and h5py, and links the settings
    once Keras runs on kcore (see the module docstring)."""
    global _applied
    with _lock:
        if not _applied:
            _restore()
            _applied = True
    link_settings()


def _restore() -> None:
    for name in _COLLECTIONS_ABCS:
        if not hasattr(collections, name):
            setattr(collections, name, getattr(collections.abc, name))
    for name, value in _NUMPY_NAMES.items():
        if name not in np.__dict__:
            setattr(np, name, value)
    _patch_h5py_attributes()


_SETTERS = ("set_floatx", "set_epsilon", "set_image_data_format")


def _linked(keras_setter, kcore_setter):
    @functools.wraps(keras_setter)
    def linked(value):
        keras_setter(value)  # Keras validates first
        kcore_setter(value)

    linked._kcore_linked = True  # type: ignore[attr-defined]
    return linked


def link_settings() -> None:
    """Makes Keras's setters set kcore's settings too, once Keras's loader has chosen a kcore
    backend (nothing otherwise)."""
    from kcore import _config
    from kcore._api import config, state

    common, loader = sys.modules.get("keras.backend.common"), sys.modules.get("keras.backend.load_backend")
    if common is None or getattr(loader, "_BACKEND", None) not in _config.OWN_MODULES:
        return
    for name in _SETTERS:
        keras_setter = getattr(common, name, None)
        if keras_setter is None or getattr(keras_setter, "_kcore_linked", False):
            continue

        linked = _linked(keras_setter, getattr(config, name))

        for module in (common, loader, sys.modules.get("keras.backend")):
            if module is not None and getattr(module, name, None) is keras_setter:
                setattr(module, name, linked)
    for name in ("symbolic", "eager"):
        keras_own, ours = getattr(common, name, None), getattr(state, name)
        if keras_own is None or keras_own is ours:
            continue
        for module in (common, loader, sys.modules.get("keras.backend")):
            if module is not None and getattr(module, name, None) is keras_own:
                setattr(module, name, ours)


def _as_bytes(value):
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, np.ndarray) and value.dtype == object and all(isinstance(v, str) for v in value.flat):
        return np.array([v.encode("utf-8") for v in value.flat]).reshape(value.shape)
    return value


def _patch_h5py_attributes() -> None:
    try:
        from h5py._hl import attrs
    except ImportError:  # no h5py: Keras cannot save or load .h5 files either
        return
    original = attrs.AttributeManager.__getitem__
    if getattr(original, "_kcore_keras_compat", False):
        return

    def __getitem__(self, name):
        value = original(self, name)
        caller = sys._getframe(1).f_globals.get("__name__", "")
        if caller == "keras" or caller.startswith("keras."):
            return _as_bytes(value)
        return value

    __getitem__._kcore_keras_compat = True  # type: ignore[attr-defined]
    __getitem__.__wrapped__ = original  # type: ignore[attr-defined]
    attrs.AttributeManager.__getitem__ = __getitem__


apply()  # importing this module is asking for it
