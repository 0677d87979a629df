"""Configuration: floatx, epsilon, the image data format and the backend's name (keras.json,
kcore/_config.py). Plain functions, the same in every backend."""
from __future__ import annotations

from kcore import _config
from kcore import _validate as V

PUBLIC = ("epsilon", "set_epsilon", "floatx", "set_floatx", "image_data_format", "set_image_data_format",
          "image_dim_ordering", "set_image_dim_ordering", "normalize_data_format", "backend")


def epsilon() -> float:
    """The fuzz factor used in numeric expressions (default 1e-07)."""
    return _config.SETTINGS.epsilon


def set_epsilon(e) -> None:
    _config.SETTINGS.epsilon = V.number(e, "set_epsilon", "e")
    _config.SETTINGS.sources["epsilon"] = "setter"


def floatx() -> str:
    """The default float type, as a string: 'float16', 'float32' or 'float64'."""
    return _config.SETTINGS.floatx


def set_floatx(floatx) -> None:
    if not isinstance(floatx, str) or floatx not in _config.FLOATX_VALUES:
        raise ValueError(f"set_floatx: Unknown floatx type: {floatx!r}; expected one of "
                         f"{', '.join(_config.FLOATX_VALUES)}")
    _config.SETTINGS.floatx = str(floatx)
    _config.SETTINGS.sources["floatx"] = "setter"


def image_data_format() -> str:
    return _config.SETTINGS.image_data_format


def set_image_data_format(data_format) -> None:
    _config.SETTINGS.image_data_format = V.choice(data_format, "set_image_data_format", "data_format",
                                                  _config.DATA_FORMATS)
    _config.SETTINGS.sources["image_data_format"] = "setter"


def image_dim_ordering() -> str:
    """Keras 1's name for the data format: 'th' (channels_first) or 'tf' (channels_last)."""
    return "th" if image_data_format() == "channels_first" else "tf"


def set_image_dim_ordering(dim_ordering) -> None:
    ordering = V.choice(dim_ordering, "set_image_dim_ordering", "dim_ordering", ("tf", "th"))
    set_image_data_format("channels_first" if ordering == "th" else "channels_last")


def normalize_data_format(value):
    return data_format(value, "normalize_data_format")


def data_format(value, fn: str) -> str:
    """A data_format argument of fn: None means image_data_format(); case does not matter (Keras)."""
    if value is None:
        return image_data_format()
    return V.choice(value, fn, "data_format", _config.DATA_FORMATS, lower=True)


def backend() -> str:
    """The name of the active backend."""
    return _config.SETTINGS.backend
