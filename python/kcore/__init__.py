"""kcore: fast, accurate CPU tensor kernels with the Keras 2 backend API."""
import sys as _sys


def _keras2_is_loading() -> bool:
    """True while Keras 2.x's backend loader runs (only multi-backend Keras has that module): then
    Keras is importing kcore as its backend."""
    if "keras.backend.load_backend" not in _sys.modules:
        return False
    import importlib.metadata

    try:
        return importlib.metadata.version("keras").split(".")[0] == "2"
    except importlib.metadata.PackageNotFoundError:
        return True


if _keras2_is_loading():
    from kcore import keras_compat  # noqa: F401  (applies itself)

from kcore import _runtime  # noqa: E402
from kcore._runtime import get_num_threads, set_num_threads, show_config  # noqa: E402

__version__ = _runtime.version()

from kcore import backend  # noqa: E402

__all__ = ["__version__", "backend", "get_num_threads", "set_num_threads", "show_config"]
