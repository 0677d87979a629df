"""kcore.keras_compat: applied when Keras 2.x loads kcore (or on explicit import), never otherwise.

Each test runs in a fresh interpreter: the layer changes process-wide modules."""
import os
import subprocess
import sys
import textwrap

import pytest


def run(code: str, tmp_path, env_extra=None) -> str:
    env = dict(os.environ, KERAS_HOME=str(tmp_path), **(env_extra or {}))
    env.pop("KCORE_BACKEND", None)
    r = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, env=env,
                       cwd=tmp_path, timeout=120)
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_importing_kcore_alone_touches_nothing(tmp_path):
    out = run("""
        import collections, numpy as np, kcore
        from kcore import backend as K
        print(hasattr(collections, "Iterable"), "Inf" in np.__dict__, "string_" in np.__dict__,
              "kcore.keras_compat" in __import__("sys").modules)
    """, tmp_path)
    assert out.split() == ["False", "False", "False", "False"]


def test_explicit_import_restores_the_removed_names(tmp_path):
    out = run("""
        import collections, collections.abc, numpy as np
        import kcore.keras_compat as kc
        print(collections.Iterable is collections.abc.Iterable, collections.Mapping is collections.abc.Mapping,
              np.Inf == np.inf, np.string_ is np.bytes_, np.unicode_ is np.str_, kc.applied())
        kc.apply()  # twice is harmless
        print(collections.Sequence is collections.abc.Sequence)
    """, tmp_path)
    assert out.split() == ["True"] * 7


def test_a_keras2_loader_applies_it(tmp_path):
    # A stand-in for Keras 2's loader module: kcore sees it importing and applies the layer.
    pkg = tmp_path / "keras" / "backend"
    pkg.mkdir(parents=True)
    (tmp_path / "keras" / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("")
    (pkg / "load_backend.py").write_text("import importlib\nK = importlib.import_module('kcore.backend')\n")
    out = run("""
        import sys, collections
        sys.path.insert(0, ".")
        import keras.backend.load_backend as lb
        print("kcore.keras_compat" in sys.modules, hasattr(collections, "Iterable"), lb.K.backend())
    """, tmp_path)
    assert out.split() == ["True", "True", "kcore"]


def test_h5py_gives_keras_bytes_and_everyone_else_str(tmp_path):
    pytest.importorskip("h5py")
    out = run("""
        import h5py, numpy as np
        import kcore.keras_compat
        with h5py.File("t.h5", "w") as f:
            f.attrs["a"] = b"abc"
            f.attrs["names"] = [b"x", b"yy"]
            f.attrs["n"] = 3
        keras_reader = {"__name__": "keras.engine.saving"}
        exec("def read(f, k): return f.attrs[k]", keras_reader)
        with h5py.File("t.h5", "r") as f:
            print(repr(f.attrs["a"]), repr(keras_reader["read"](f, "a")))
            names = keras_reader["read"](f, "names")
            print([n.decode("utf8") for n in names], list(f.attrs["names"]), keras_reader["read"](f, "n"))
    """, tmp_path)
    first, second = out.splitlines()
    assert first == "'abc' b'abc'"
    assert second == "['x', 'yy'] ['x', 'yy'] 3"


def _stand_in_keras(tmp_path):
    """A stand-in for Keras 2's backend package: settings in common.py, a loader importing the backend."""
    pkg = tmp_path / "keras" / "backend"
    pkg.mkdir(parents=True)
    (tmp_path / "keras" / "__init__.py").write_text("from . import backend\n")
    (pkg / "__init__.py").write_text("from .load_backend import set_floatx, floatx, set_epsilon, K\n")
    (pkg / "common.py").write_text(textwrap.dedent("""
        _FLOATX, _EPSILON = "float32", 1e-7
        def floatx(): return _FLOATX
        def set_floatx(value):
            global _FLOATX
            if value not in ("float16", "float32", "float64"):
                raise ValueError("Unknown floatx type: " + str(value))
            _FLOATX = value
        def set_epsilon(e):
            global _EPSILON
            _EPSILON = float(e)
        def set_image_data_format(f): pass
    """))
    (pkg / "load_backend.py").write_text(
        "import importlib\nfrom .common import set_floatx, floatx, set_epsilon\n_BACKEND = 'kcore.backend'\n"
        "K = importlib.import_module(_BACKEND)\n")


@pytest.mark.parametrize("order", ["kcore first", "keras first"])
def test_keras_setters_set_kcore_settings_whichever_is_imported_first(tmp_path, order):
    _stand_in_keras(tmp_path)
    first, second = ("kcore", "keras") if order == "kcore first" else ("keras", "kcore")
    out = run(f"""
        import sys, collections
        sys.path.insert(0, ".")
        import {first}
        import {second}
        from kcore import backend as K
        keras.backend.set_floatx("float64")
        keras.backend.set_epsilon(1e-4)
        try:
            keras.backend.set_floatx("int8")
        except ValueError:
            pass
        print(hasattr(collections, "Iterable"), keras.backend.floatx(), K.floatx(), K.epsilon())
    """, tmp_path)
    assert out.split() == ["True", "float64", "float64", "0.0001"]
