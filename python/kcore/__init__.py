"""kcore: fast, accurate CPU tensor kernels with the Keras 2 backend API."""
from kcore import _runtime
from kcore._runtime import get_num_threads, set_num_threads, show_config

__version__ = _runtime.version()

from kcore import backend

__all__ = ["__version__", "backend", "get_num_threads", "set_num_threads", "show_config"]
