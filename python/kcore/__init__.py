"""kcore: fast, accurate CPU tensor kernels with the Keras 2 backend API."""
import sys as _sys

from kcore import _keras_hook

if "keras.backend.load_backend" in _sys.modules:  # (only multi-backend Keras has that module)
    if _keras_hook.keras_is_2():  # Keras 2.x's loader is importing kcore as its backend
        from kcore import keras_compat  # noqa: F401  (applies itself)
elif "keras" not in _sys.modules:
    _keras_hook.watch()  # in case Keras 2.x comes later

from kcore import _runtime
from kcore._runtime import get_num_threads, set_num_threads, show_config

__version__ = _runtime.version()

from kcore import backend

__all__ = ["__version__", "backend", "get_num_threads", "set_num_threads", "show_config"]
