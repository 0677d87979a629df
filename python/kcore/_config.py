"""Keras-compatible configuration: keras.json, KERAS_HOME, KERAS_BACKEND and KCORE_BACKEND.

The decision is a pure function, `resolve(env, file_text, path, home_writable)`, so every rule is
tested without touching a home directory. Import runs `load()` once: it reads the file and, when
the file is missing and the directory can be written, writes Keras's own defaults atomically.
"""
from __future__ import annotations

import json
import os
import tempfile
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field

FLOATX_VALUES = ("float16", "float32", "float64")
DATA_FORMATS = ("channels_last", "channels_first")
DIM_ORDERINGS = {"tf": "channels_last", "th": "channels_first"}
KERAS_ENGINES = ("tensorflow", "theano", "cntk", "jax", "torch", "openvino")
KCORE_BACKENDS = ("kcore", "numpy")
# kcore's own module paths, as Keras 2 names an external backend: they always mean kcore's own
# backends, never a module imported as an external one.
OWN_MODULES = {"kcore": "kcore", "kcore.backend": "kcore", "kcore.numpy_backend": "numpy"}
REQUIRED_BACKEND_ENTRIES = ("placeholder", "variable", "function")

# Exactly what Keras writes, so a Keras installation sharing the file keeps working.
KERAS_DEFAULT_FILE = {
    "floatx": "float32",
    "epsilon": 1e-07,
    "backend": "tensorflow",
    "image_data_format": "channels_last",
}


@dataclass
class Settings:
    config_dir: str
    config_path: str
    floatx: str = "float32"
    epsilon: float = 1e-07
    image_data_format: str = "channels_last"
    backend: str = "kcore"
    sources: dict = field(default_factory=dict)
    backend_note: str = ""


def config_dir(env: Mapping[str, str], home: str, home_writable: bool) -> str:
    if env.get("KERAS_HOME"):
        return env["KERAS_HOME"]
    base = home if home_writable else tempfile.gettempdir()
    return os.path.join(base, ".keras")


def _bad_value(path: str, key: str, value, allowed: str) -> ValueError:
    return ValueError(f"kcore: invalid value {value!r} for {key!r} in {path}; allowed: {allowed}")


def resolve(env: Mapping[str, str], file_text: str | None, path: str, cfg_dir: str) -> Settings:
    """Settings from the environment and the text of keras.json (None when there is none)."""
    s = Settings(config_dir=cfg_dir, config_path=path)
    for key in ("floatx", "epsilon", "image_data_format"):
        s.sources[key] = "default"
    data: dict = {}
    if file_text is not None:
        try:
            loaded = json.loads(file_text)
        except ValueError:
            warnings.warn(f"kcore: {path} is not valid JSON; using the default settings",
                          RuntimeWarning, stacklevel=2)
            loaded = {}
        if isinstance(loaded, dict):
            data = loaded
        else:
            warnings.warn(f"kcore: {path} does not hold a JSON object; using the default settings",
                          RuntimeWarning, stacklevel=2)

    if "floatx" in data:
        if data["floatx"] not in FLOATX_VALUES:
            raise _bad_value(path, "floatx", data["floatx"], ", ".join(FLOATX_VALUES))
        s.floatx, s.sources["floatx"] = data["floatx"], f"file ({path})"
    if "epsilon" in data:
        eps = data["epsilon"]
        if not isinstance(eps, float):  # as Keras, which asserts a float at import
            raise _bad_value(path, "epsilon", eps, "a float, e.g. 1e-07")
        s.epsilon, s.sources["epsilon"] = float(eps), f"file ({path})"
    if "image_data_format" in data:
        if data["image_data_format"] not in DATA_FORMATS:
            raise _bad_value(path, "image_data_format", data["image_data_format"], ", ".join(DATA_FORMATS))
        s.image_data_format = data["image_data_format"]
        s.sources["image_data_format"] = f"file ({path})"
    elif "image_dim_ordering" in data:  # the Keras 1 key
        if data["image_dim_ordering"] not in DIM_ORDERINGS:
            raise _bad_value(path, "image_dim_ordering", data["image_dim_ordering"], "tf, th")
        s.image_data_format = DIM_ORDERINGS[data["image_dim_ordering"]]
        s.sources["image_data_format"] = f"file ({path}, legacy image_dim_ordering)"

    s.backend, s.sources["backend"], s.backend_note = _choose_backend(env, data, path)
    return s


def _choose_backend(env: Mapping[str, str], data: dict, path: str) -> tuple[str, str, str]:
    name = env.get("KCORE_BACKEND", "")
    name = OWN_MODULES.get(name, name)
    if name:
        if name in KERAS_ENGINES:
            raise ValueError(f"kcore: KCORE_BACKEND={name!r} names a Keras engine, not a kcore backend; "
                             f"use one of {', '.join(KCORE_BACKENDS)} or the dotted path of a module")
        if name not in KCORE_BACKENDS and not _looks_like_module(name):
            raise ValueError(f"kcore: unknown KCORE_BACKEND={name!r}; use one of "
                             f"{', '.join(KCORE_BACKENDS)} or the dotted path of a module")
        return name, "environment (KCORE_BACKEND)", ""
    for name, source in ((env.get("KERAS_BACKEND", ""), "environment (KERAS_BACKEND)"),
                         (data.get("backend", ""), f"file ({path})")):
        if not name:
            continue
        if not isinstance(name, str):
            raise _bad_value(path, "backend", name, "a backend name")
        if name in KERAS_ENGINES:
            return "kcore", "default", f"{source} names Keras's own engine {name!r}; kcore uses 'kcore'"
        return OWN_MODULES.get(name, name), source, ""
    return "kcore", "default", ""


def _looks_like_module(name: str) -> bool:
    return all(part.isidentifier() for part in name.split("."))


def _write_default_file(cfg_dir: str, path: str) -> None:
    """Atomically create keras.json with Keras's defaults; never raises."""
    try:
        os.makedirs(cfg_dir, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".keras.json.", dir=cfg_dir)
        try:
            with os.fdopen(fd, "w") as f:
                json.dump(KERAS_DEFAULT_FILE, f, indent=4)
            # link() fails if another process created the file first: an existing file wins.
            os.link(tmp, path)
        finally:
            os.unlink(tmp)
    except OSError:
        pass


def load(env: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if env is None else env
    home = os.path.expanduser("~")
    cfg_dir = config_dir(env, home, os.access(home, os.W_OK))
    path = os.path.join(os.path.expanduser(cfg_dir), "keras.json")
    try:
        with open(path, encoding="utf-8") as f:
            text: str | None = f.read()
    except FileNotFoundError:
        text = None
    except (OSError, UnicodeDecodeError) as e:
        warnings.warn(f"kcore: cannot read {path} ({e}); using the default settings",
                      RuntimeWarning, stacklevel=2)
        text = "{}"
    settings = resolve(env, text, path, cfg_dir)
    if text is None:
        _write_default_file(os.path.expanduser(cfg_dir), path)
    return settings


SETTINGS = load()


def report_lines() -> list[str]:
    s = SETTINGS
    lines = [f"  config file:       {s.config_path}"
             + ("" if os.path.exists(s.config_path) else " (absent)")]
    for key in ("floatx", "epsilon", "image_data_format", "backend"):
        lines.append(f"  {key + ':':<18} {getattr(s, key)!s:<15} [{s.sources.get(key, 'default')}]")
    if s.backend_note:
        lines.append(f"  backend note:      {s.backend_note}")
    return lines
