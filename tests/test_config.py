"""keras.json / KERAS_HOME / KERAS_BACKEND / KCORE_BACKEND handling (SPEC.md "Config")."""
import json
import os
import subprocess
import sys

import pytest

from kcore import _config
from kcore import backend as K

PATH = "/cfg/keras.json"


def resolve(env=None, text=None):
    return _config.resolve(env or {}, text, PATH, "/cfg")


def test_defaults_without_file():
    s = resolve()
    assert (s.floatx, s.epsilon, s.image_data_format, s.backend) == ("float32", 1e-07, "channels_last", "kcore")
    assert s.sources["floatx"] == "default"


def test_file_values_and_sources():
    s = resolve(text=json.dumps({"floatx": "float64", "epsilon": 1e-5, "image_data_format": "channels_first"}))
    assert (s.floatx, s.epsilon, s.image_data_format) == ("float64", 1e-5, "channels_first")
    assert s.sources["floatx"] == f"file ({PATH})"


def test_partial_file_keeps_other_defaults():
    s = resolve(text='{"epsilon": 0.001}')
    assert s.epsilon == 0.001 and s.floatx == "float32"


def test_legacy_image_dim_ordering():
    assert resolve(text='{"image_dim_ordering": "th"}').image_data_format == "channels_first"
    assert resolve(text='{"image_dim_ordering": "tf"}').image_data_format == "channels_last"
    both = resolve(text='{"image_dim_ordering": "th", "image_data_format": "channels_last"}')
    assert both.image_data_format == "channels_last"
    with pytest.raises(ValueError, match=r"'image_dim_ordering'.*allowed: tf, th"):
        resolve(text='{"image_dim_ordering": "xx"}')


def test_malformed_json_warns_and_uses_defaults():
    with pytest.warns(RuntimeWarning, match=f"{PATH} is not valid JSON"):
        s = resolve(text="{not json")
    assert s.floatx == "float32"
    with pytest.warns(RuntimeWarning, match="does not hold a JSON object"):
        resolve(text="[1]")


@pytest.mark.parametrize("key,value,allowed", [("floatx", "float8", "float16, float32, float64"),
                                               ("epsilon", "small", "a float"),
                                               ("epsilon", 1, "a float"),
                                               ("image_data_format", "nhwc", "channels_last, channels_first")])
def test_invalid_values_name_file_key_value_and_allowed(key, value, allowed):
    with pytest.raises(ValueError) as e:
        resolve(text=json.dumps({key: value}))
    msg = str(e.value)
    assert PATH in msg and repr(key) in msg and repr(value) in msg and allowed in msg


@pytest.mark.parametrize("env,text,expected", [
    ({"KCORE_BACKEND": "numpy", "KERAS_BACKEND": "kcore"}, None, "numpy"),
    ({"KERAS_BACKEND": "numpy"}, '{"backend": "kcore"}', "numpy"),
    ({"KERAS_BACKEND": ""}, '{"backend": "numpy"}', "numpy"),
    ({}, '{"backend": "my.ext"}', "my.ext"),
    ({"KERAS_BACKEND": "tensorflow"}, '{"backend": "numpy"}', "kcore"),
    ({}, '{"backend": "theano"}', "kcore"),
    ({}, None, "kcore"),
    # kcore's own module paths, as Keras 2 users write them, are kcore's own backends.
    ({"KERAS_BACKEND": "kcore.backend"}, None, "kcore"),
    ({"KERAS_BACKEND": "kcore.numpy_backend"}, '{"backend": "kcore"}', "numpy"),
    ({}, '{"backend": "kcore.numpy_backend"}', "numpy"),
    ({"KCORE_BACKEND": "kcore.numpy_backend"}, None, "numpy"),
])
def test_backend_precedence(env, text, expected):
    assert resolve(env, text).backend == expected


def test_keras_engine_names_explain_themselves():
    s = resolve({"KERAS_BACKEND": "jax"})
    assert s.backend == "kcore" and "Keras's own engine 'jax'" in s.backend_note


@pytest.mark.parametrize("name", ["tensorflow", "no such thing", "9lives"])
def test_kcore_backend_rejects_unknown_names(name):
    with pytest.raises(ValueError, match="KCORE_BACKEND"):
        resolve({"KCORE_BACKEND": name})


def test_config_dir():
    assert _config.config_dir({"KERAS_HOME": "/x/y"}, "/home/u", True) == "/x/y"
    assert _config.config_dir({}, "/home/u", True) == "/home/u/.keras"
    assert _config.config_dir({}, "/home/u", False).endswith(os.path.join("tmp", ".keras"))


def test_setters_validate_and_keep_old_value():
    old = K.floatx()
    for bad in ("", "beerfloat", 123):
        with pytest.raises(ValueError, match="Unknown floatx type"):
            K.set_floatx(bad)
    assert K.floatx() == old
    K.set_floatx("float16")
    try:
        assert K.floatx() == "float16"
    finally:
        K.set_floatx(old)
    with pytest.raises(ValueError):
        K.set_image_data_format("channels_middle")
    eps = K.epsilon()
    K.set_epsilon(1e-5)
    assert K.epsilon() == 1e-5
    K.set_epsilon(eps)


# --- real imports in a subprocess with a temporary KERAS_HOME / HOME ---------------------------

def _import(tmp_path, env_extra, code="import kcore; from kcore import backend as K; print(K.floatx(), K.backend())"):
    env = {k: v for k, v in os.environ.items() if k not in ("KERAS_HOME", "KERAS_BACKEND", "KCORE_BACKEND")}
    env["HOME"] = str(tmp_path / "home")
    os.makedirs(env["HOME"], exist_ok=True)
    env.update(env_extra)
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)


def test_missing_file_is_written_with_keras_defaults(tmp_path):
    home = tmp_path / "kh"
    r = _import(tmp_path, {"KERAS_HOME": str(home)})
    assert r.returncode == 0, r.stderr
    assert r.stdout.split()[-2:] == ["float32", "kcore"]
    assert json.loads((home / "keras.json").read_text()) == {
        "floatx": "float32", "epsilon": 1e-07, "backend": "tensorflow", "image_data_format": "channels_last"}
    assert sorted(os.listdir(home)) == ["keras.json"]  # no temp files left


def test_default_dir_is_home_dot_keras(tmp_path):
    r = _import(tmp_path, {})
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "home" / ".keras" / "keras.json").exists()


def test_existing_file_is_never_rewritten(tmp_path):
    home = tmp_path / "kh"
    home.mkdir()
    text = '{"floatx": "float64"}'
    (home / "keras.json").write_text(text)
    r = _import(tmp_path, {"KERAS_HOME": str(home)})
    assert r.returncode == 0 and r.stdout.split()[-2] == "float64"
    assert (home / "keras.json").read_text() == text


def test_unwritable_dir_does_not_fail_import(tmp_path):
    home = tmp_path / "ro"
    home.mkdir()
    home.chmod(0o500)
    try:
        r = _import(tmp_path, {"KERAS_HOME": str(home / "sub")})
        assert r.returncode == 0, r.stderr
    finally:
        home.chmod(0o700)


def test_invalid_value_fails_import_with_clear_error(tmp_path):
    home = tmp_path / "kh"
    home.mkdir()
    (home / "keras.json").write_text('{"floatx": "float128"}')
    r = _import(tmp_path, {"KERAS_HOME": str(home)})
    assert r.returncode != 0
    assert "invalid value 'float128' for 'floatx'" in r.stderr and str(home / "keras.json") in r.stderr


def test_show_config_names_sources(tmp_path):
    home = tmp_path / "kh"
    home.mkdir()
    (home / "keras.json").write_text('{"epsilon": 0.01, "backend": "tensorflow"}')
    r = _import(tmp_path, {"KERAS_HOME": str(home), "KCORE_NUM_THREADS": "1"}, "import kcore; kcore.show_config()")
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "epsilon:           0.01" in out and f"file ({home / 'keras.json'})" in out
    assert "threads:           1 (environment (KCORE_NUM_THREADS))" in out
    assert "Keras's own engine 'tensorflow'" in out
    assert "cpu level in use:" in out and "openmp runtime:" in out
    r2 = _import(tmp_path, {"KERAS_HOME": str(home), "KCORE_NUM_THREADS": "1"},
                 "import runpy; runpy.run_module('kcore', run_name='__main__')")
    assert r2.stdout == out


# --- backend selection -------------------------------------------------------------------------

def test_numpy_backend_is_selected_and_works(tmp_path):
    code = ("import numpy as np; from kcore import backend as K; import kcore.numpy_backend as KN; "
            "print(K.backend(), K.sum is KN.sum, float(K.sum(np.full(100, 0.5, np.float16))))")
    r = _import(tmp_path, {"KERAS_HOME": str(tmp_path / "kh"), "KCORE_BACKEND": "numpy"}, code)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split()[-3:] == ["numpy", "True", "50.0"]


def test_keras_backend_env_and_file(tmp_path):
    home = tmp_path / "kh"
    home.mkdir()
    (home / "keras.json").write_text('{"backend": "numpy"}')
    code = "from kcore import backend as K; print(K.backend())"
    assert _import(tmp_path, {"KERAS_HOME": str(home)}, code).stdout.split()[-1] == "numpy"
    assert _import(tmp_path, {"KERAS_HOME": str(home), "KERAS_BACKEND": "kcore"}, code).stdout.split()[-1] == "kcore"
    assert _import(tmp_path, {"KERAS_HOME": str(home), "KERAS_BACKEND": ""}, code).stdout.split()[-1] == "numpy"
    env = {"KERAS_HOME": str(home), "KERAS_BACKEND": "tensorflow"}
    assert _import(tmp_path, env, code).stdout.split()[-1] == "kcore"


def test_external_backend(tmp_path):
    mod = tmp_path / "mybackend.py"
    mod.write_text("def placeholder(*a, **k): return 'p'\ndef variable(*a, **k): return 'v'\n"
                   "def function(*a, **k): return 'f'\ndef extra(): return 42\ndef floatx(): return 'mine'\n")
    code = "from kcore import backend as K; print(K.backend(), K.extra(), K.placeholder(), K.floatx())"
    env = {"KERAS_HOME": str(tmp_path / "kh"), "KCORE_BACKEND": "mybackend", "PYTHONPATH": str(tmp_path)}
    r = _import(tmp_path, env, code)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split()[-4:] == ["mybackend", "42", "p", "float32"]  # common config stays kcore's


def test_external_backend_missing_entries_are_all_listed(tmp_path):
    (tmp_path / "halfbackend.py").write_text("def variable(*a, **k): pass\n")
    env = {"KERAS_HOME": str(tmp_path / "kh"), "KERAS_BACKEND": "halfbackend", "PYTHONPATH": str(tmp_path)}
    r = _import(tmp_path, env, "import kcore")
    assert r.returncode != 0
    assert "Missing required entries: placeholder, function" in r.stderr


def test_unimportable_backend(tmp_path):
    env = {"KERAS_HOME": str(tmp_path / "kh"), "KERAS_BACKEND": "no_such_backend_module"}
    r = _import(tmp_path, env, "import kcore")
    assert r.returncode != 0 and "Unable to import backend : no_such_backend_module" in r.stderr
