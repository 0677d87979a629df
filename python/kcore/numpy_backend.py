"""The `numpy` backend: the same Keras 2 API on a pure NumPy reference (float64-accurate, Keras
semantics), for checking and comparing kcore. `from kcore import numpy_backend as KN`."""
from kcore import backends as _backends

globals().update(_backends.public_names(_backends.instance("numpy")))
