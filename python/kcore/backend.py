"""`from kcore import backend as K`: the Keras 2 backend API of the active backend.

The backend is chosen once, at import (KCORE_BACKEND, KERAS_BACKEND, keras.json's `backend`, else
`kcore`; see README). Like Keras's loader, this module's namespace is filled with the chosen
backend's entries. (kcore/__init__.py applies kcore.keras_compat first when Keras 2.x is
what imports it.)
"""
from typing import Any as _Any

from kcore import _config as _cfg
from kcore import backends as _backends

globals().update(_backends.namespace(_cfg.SETTINGS.backend))


def __getattr__(name: str) -> _Any:  # for type checkers: the namespace is filled at run time
    raise AttributeError(f"module 'kcore.backend' has no attribute {name!r}")
