"""Configuration: floatx, epsilon, the image data format and the backend's name (keras.json,
kcore/_config.py). Plain functions, the same in every backend."""
from __future__ import annotations

import numbers

from kcore import _config

PUBLIC = ("epsilon", "set_epsilon", "floatx", "set_floatx", "image_data_format", "set_image_data_format",
          "image_dim_ordering", "set_image_dim_ordering", "normalize_data_format", "backend")


def epsilon() -> float:
    """The fuzz factor used in numeric expressions (default 1e-07)."""
    return _config.SETTINGS.epsilon


def set_epsilon(e) -> None:
    if isinstance(e, bool) or not isinstance(e, numbers.Real):
        raise ValueError(f"set_epsilon: expected a number, got {e!r}")
    _config.SETTINGS.epsilon = float(e)
    _config.SETTINGS.sources["epsilon"] = "setter"


def floatx() -> str:
    """The default float type, as a string: 'float16', 'float32' or 'float64'."""
    return _config.SETTINGS.floatx


def set_floatx(floatx) -> None:
    if floatx not in _config.FLOATX_VALUES:
        raise ValueError(f"Unknown floatx type: {floatx!r}; expected one of {', '.join(_config.FLOATX_VALUES)}")
    _config.SETTINGS.floatx = str(floatx)
    _config.SETTINGS.sources["floatx"] = "setter"


def image_data_format() -> str:
    return _config.SETTINGS.image_data_format


def set_image_data_format(data_format) -> None:
    if data_format not in _config.DATA_FORMATS:
        raise ValueError(f"Unknown data_format: {data_format!r}; expected one of {', '.join(_config.DATA_FORMATS)}")
    _config.SETTINGS.image_data_format = str(data_format)
    _config.SETTINGS.sources["image_data_format"] = "setter"


def image_dim_ordering() -> str:
    """Keras 1's name for the data format: 'th' (channels_first) or 'tf' (channels_last)."""
    return "th" if image_data_format() == "channels_first" else "tf"


def set_image_dim_ordering(dim_ordering) -> None:
    if dim_ordering not in ("tf", "th"):
        raise ValueError(f"Unknown dim_ordering: {dim_ordering!r}; expected 'tf' or 'th'")
    set_image_data_format("channels_first" if dim_ordering == "th" else "channels_last")


def normalize_data_format(value):
    if value is None:
        return image_data_format()
    data_format = str(value).lower()
    if data_format not in _config.DATA_FORMATS:
        raise ValueError(f"The `data_format` argument must be one of \"channels_first\", \"channels_last\". "
                         f"Received: {value!r}")
    return data_format


def backend() -> str:
    """The name of the active backend."""
    return _config.SETTINGS.backend
