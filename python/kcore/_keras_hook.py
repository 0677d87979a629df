"""Keras 2.x imported after kcore: a finder on sys.meta_path that finds nothing itself. It only
watches for `import keras`; when the Keras being imported is 2.x, it applies kcore.keras_compat
(which Keras 2.3.1 needs before its first line runs), and once Keras's backend loader has run, links
Keras's settings to kcore's (keras_compat.link_settings). When Keras is imported first, kcore sees
Keras's loader importing it and does the same (kcore/__init__.py)."""
from __future__ import annotations

import contextlib
import importlib.machinery
import importlib.metadata
import sys


def keras_is_2() -> bool:
    """Whether the installed Keras is 2.x (multi-backend Keras), read from its metadata."""
    try:
        return importlib.metadata.version("keras").split(".")[0] == "2"
    except importlib.metadata.PackageNotFoundError:
        return True  # a Keras on the path without metadata: its loader module tells (callers check)


class _KerasWatcher:
    def find_spec(self, name, path=None, target=None):
        if name == "keras":
            if keras_is_2():
                from kcore import keras_compat  # noqa: F401  (applies itself)
            else:
                self.remove()
        elif name == "keras.backend.load_backend" and "kcore.keras_compat" in sys.modules:
            self.remove()
            spec = importlib.machinery.PathFinder.find_spec(name, path)
            loader = getattr(spec, "loader", None)
            if loader is not None and hasattr(loader, "exec_module"):
                run = loader.exec_module

                def exec_module(module):
                    run(module)
                    sys.modules["kcore.keras_compat"].link_settings()

                loader.exec_module = exec_module
            return spec
        return None

    def remove(self):
        with contextlib.suppress(ValueError):
            sys.meta_path.remove(self)


def watch() -> None:
    if not any(isinstance(f, _KerasWatcher) for f in sys.meta_path):
        sys.meta_path.insert(0, _KerasWatcher())
