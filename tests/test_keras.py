"""Unmodified Keras 2.3.1 on kcore (KERAS_BACKEND=kcore.backend, and the numpy backend), each script
in a fresh interpreter. Predictions and trained weights are checked against NumPy written here and
in tests/keras_reference.py, from the model's own weights."""
import importlib.metadata
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

try:
    KERAS = importlib.metadata.version("keras")
except importlib.metadata.PackageNotFoundError:
    KERAS = None
pytestmark = pytest.mark.skipif(KERAS != "2.3.1", reason="needs Keras 2.3.1 (pip install '.[keras]')")

PRELUDE = """
import numpy as np
np.random.seed(0)  # Keras's initial weights (kcore derives unseeded draws from NumPy's global RNG)
rng = np.random.default_rng(0)
def relu(v): return np.maximum(v, 0)
def softmax(v):
    e = np.exp(v - v.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)
"""


def run_keras(code: str, tmp_path, backend="kcore.backend", keras_json=None) -> dict:
    env = dict(os.environ, KERAS_HOME=str(tmp_path))
    env.pop("KCORE_BACKEND", None)
    if backend is None:
        env.pop("KERAS_BACKEND", None)
    else:
        env["KERAS_BACKEND"] = backend
    if keras_json is not None:
        (tmp_path / "keras.json").write_text(json.dumps(keras_json))
    script = PRELUDE + textwrap.dedent(code)
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, cwd=tmp_path,
                       timeout=600)
    assert r.returncode == 0, r.stderr[-4000:]
    return json.loads(r.stdout.strip().splitlines()[-1])


MLP = """
import keras
from keras.models import Sequential, load_model
from keras.layers import Dense, Dropout
x = rng.standard_normal((256, 4)).astype("float32")
y = np.eye(3, dtype="float32")[(x[:, 0] > 0).astype(int) + (x[:, 1] > 0.5)]
m = Sequential([Dense(16, activation="relu", input_shape=(4,)), Dropout(0.2), Dense(3, activation="softmax")])
m.compile(OPTIMIZER, "categorical_crossentropy", metrics=["accuracy"])
w1, b1, w2, b2 = m.get_weights()
ref = softmax(relu(x @ w1 + b1) @ w2 + b2)
pred = m.predict(x)
loss0, acc0 = m.evaluate(x, y, verbose=0)
ref_loss = float(np.mean(-np.sum(y * np.log(np.clip(ref, 1e-7, 1 - 1e-7)), axis=1)))
ref_acc = float(np.mean(np.argmax(ref, 1) == np.argmax(y, 1)))
h = m.fit(x, y, epochs=20, batch_size=32, verbose=0)
m.save("m.h5")
m2 = load_model("m.h5")
print(json.dumps({"backend": keras.backend.backend(), "pred_err": float(np.abs(pred - ref).max()),
                  "loss0": float(loss0), "ref_loss": ref_loss, "acc0": float(acc0), "ref_acc": ref_acc,
                  "first": float(h.history["loss"][0]), "last": float(h.history["loss"][-1]),
                  "reload_err": float(np.abs(m2.predict(x) - m.predict(x)).max())}))
"""


@pytest.mark.parametrize("backend", ["kcore.backend", "kcore.numpy_backend"])
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_mlp_predict_evaluate_fit_save_load(tmp_path, optimizer, backend):
    out = run_keras("import json\n" + MLP.replace("OPTIMIZER", repr(optimizer)), tmp_path, backend=backend)
    assert out["backend"] == backend
    assert out["pred_err"] < 1e-6
    assert abs(out["loss0"] - out["ref_loss"]) < 1e-5 and out["acc0"] == out["ref_acc"]
    assert out["last"] < out["first"] * (0.95 if optimizer == "sgd" else 0.85)  # (random initial weights)
    assert out["reload_err"] == 0.0


@pytest.mark.parametrize("how", ["keras.json", "numpy_backend"])
def test_keras_json_and_the_numpy_backend_load(tmp_path, how):
    code = """
    import json, keras
    from keras.layers import Dense
    from keras.models import Sequential
    m = Sequential([Dense(2, input_shape=(3,))])
    x = rng.standard_normal((4, 3)).astype("float32")
    w, b = m.get_weights()
    print(json.dumps({"backend": keras.backend.backend(), "err": float(np.abs(m.predict(x) - (x @ w + b)).max())}))
    """
    if how == "keras.json":
        out = run_keras(code, tmp_path, backend=None, keras_json={"backend": "kcore.backend", "floatx": "float32",
                                                                  "epsilon": 1e-07,
                                                                  "image_data_format": "channels_last"})
        assert out["backend"] == "kcore.backend"
    else:
        out = run_keras(code, tmp_path, backend="kcore.numpy_backend")
        assert out["backend"] == "kcore.numpy_backend"
    assert out["err"] < 1e-6


def test_cnn_predict_matches_numpy(tmp_path):
    code = """
    import json
    from keras.models import Sequential
    from keras.layers import Conv2D, MaxPooling2D, Flatten, Dense
    m = Sequential([Conv2D(4, (3, 3), padding="same", activation="relu", input_shape=(6, 6, 2)),
                    MaxPooling2D((2, 2)), Flatten(), Dense(3, activation="softmax")])
    x = rng.standard_normal((2, 6, 6, 2)).astype("float32")
    k, kb, w, b = m.get_weights()
    xp = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    conv = np.zeros((2, 6, 6, 4))
    for i in range(6):
        for j in range(6):
            conv[:, i, j] = np.einsum("nabc,abcd->nd", xp[:, i:i + 3, j:j + 3], k)
    pooled = relu(conv + kb).reshape(2, 3, 2, 3, 2, 4).max(axis=(2, 4))
    ref = softmax(pooled.reshape(2, -1) @ w + b)
    print(json.dumps({"err": float(np.abs(m.predict(x) - ref).max())}))
    """
    assert run_keras(code, tmp_path)["err"] < 1e-5


def test_keras_layer_chains_fuse_into_their_convolutions(tmp_path):
    # MobileNet's Conv2D(use_bias=False) -> BatchNormalization -> ReLU(6.) (whose parameters are
    # 0-d arrays), ZeroPadding2D -> DepthwiseConv2D('valid'), and ResNet50's Conv2D -> BN -> relu
    # and Conv2D -> BN -> Add(shortcut) -> relu: each a single fused convolution in predict, with
    # the ops' own bits (no pass over a whole activation outside the convolutions).
    code = """
    import json
    import keras
    from keras import layers
    from keras import backend as K
    from kcore import _fusion, _graph, _kernels
    calls, unfused_ops = [], []
    original = _fusion.runner
    def spy(chain):  # (every fused call, recorded in a schedule or not, is a runner's)
        run = original(chain)
        def counted(value):
            out = run(value)
            calls.append(out is not None)
            return out
        return counted
    _fusion.runner = spy
    for name in ("elementwise1", "elementwise3", "elementwise"):  # relu; x * scale + shift; add
        def counted(*args, _f=getattr(_kernels.NATIVE, name), _name=name):
            if any(getattr(a, "ndim", 0) == 4 for a in args):  # (not the statistics' (C,) math)
                unfused_ops.append(_name)
            return _f(*args)
        setattr(_kernels.NATIVE, name, counted)
    inp = layers.Input((12, 12, 3))
    h = layers.Conv2D(8, 3, padding="same", use_bias=False)(inp)
    h = layers.ReLU(6.)(layers.BatchNormalization()(h))
    h = layers.ZeroPadding2D(((0, 1), (0, 1)))(h)
    h = layers.DepthwiseConv2D(3, strides=2, padding="valid", use_bias=False)(h)
    h = layers.ReLU(6.)(layers.BatchNormalization()(h))
    r = layers.BatchNormalization()(layers.Conv2D(8, 1)(h))
    h = layers.Activation("relu")(layers.add([r, h]))
    h = layers.Conv2D(5, 1)(h)
    out = layers.Activation("relu")(layers.BatchNormalization()(h))
    m = keras.models.Model(inp, out)
    for layer in m.layers:  # moving statistics that are not the initial 0 and 1
        if isinstance(layer, layers.BatchNormalization):
            g, b, mean, var = layer.get_weights()
            layer.set_weights([g * 1.5, b + 0.25, mean + 0.1, var * 2])
    x = rng.standard_normal((4, 12, 12, 3)).astype("float32")
    m.predict(x)
    calls.clear(), unfused_ops.clear()
    got = m.predict(x)
    ops = list(unfused_ops)
    unfused = _graph.evaluate([m.output], {m.input: x, K.learning_phase(): 0})[0]
    print(json.dumps({"calls": calls, "ops": ops, "same": got.tobytes() == unfused.tobytes()}))
    """
    out = run_keras(code, tmp_path)
    assert out["calls"] == [True] * 4 and out["ops"] == [] and out["same"]


def test_batchnorm_cnn_fits_and_predicts_with_moving_statistics(tmp_path):
    code = """
    import json
    from keras.models import Sequential
    from keras.layers import Conv2D, BatchNormalization, MaxPooling2D, Flatten, Dense
    x = rng.standard_normal((64, 6, 6, 1)).astype("float32")
    y = np.eye(2, dtype="float32")[(x.mean(axis=(1, 2, 3)) > 0).astype(int)]
    m = Sequential([Conv2D(3, (3, 3), input_shape=(6, 6, 1)), BatchNormalization(), MaxPooling2D((2, 2)),
                    Flatten(), Dense(2, activation="softmax")])
    m.compile("adam", "categorical_crossentropy")
    h = m.fit(x, y, epochs=8, batch_size=16, verbose=0)
    k, kb, gamma, beta, mm, mv, w, b = m.get_weights()
    conv = np.zeros((64, 4, 4, 3))
    for i in range(4):
        for j in range(4):
            conv[:, i, j] = np.einsum("nabc,abcd->nd", x[:, i:i + 3, j:j + 3], k)
    bn = (conv + kb - mm) / np.sqrt(mv + 1e-3) * gamma + beta
    ref = softmax(bn.reshape(64, 2, 2, 2, 2, 3).max(axis=(2, 4)).reshape(64, -1) @ w + b)
    print(json.dumps({"first": float(h.history["loss"][0]), "last": float(h.history["loss"][-1]),
                      "moved": float(np.abs(mm).max()), "err": float(np.abs(m.predict(x) - ref).max())}))
    """
    out = run_keras(code, tmp_path)
    assert out["last"] < out["first"] and out["moved"] > 0 and out["err"] < 1e-4


ZOO = """
import json, sys
sys.path.insert(0, TESTS)
from keras import backend as K
from keras import layers as L
from keras.models import Sequential, Model
from keras.applications import MobileNet, MobileNetV2, ResNet50
from keras_reference import Reference, sgd_step_check
results = {}


def check(name, build, x, train=True):
    m = build()
    ref = Reference(m, K).predict(x)
    r = {"pred": float(np.abs(m.predict(x) - ref).max() / np.abs(ref).max())}
    if train:
        y = np.eye(2)[rng.integers(0, 2, len(x))]
        r["sgd"], r["step"], r["moving"] = sgd_step_check(m, K, x, y, lr=0.1)
        m.compile("adam", "categorical_crossentropy")
        r["adam_finite"] = bool(np.all(np.isfinite(m.fit(x, y, epochs=2, verbose=0).history["loss"])))
    else:  # the applications: their pooled features too (the random-weight outputs saturate)
        pool = next(layer for layer in m.layers if type(layer).__name__ == "GlobalAveragePooling2D")
        sub = Model(m.input, pool.output)
        ref = Reference(sub, K).predict(x)
        r["features"] = float(np.abs(sub.predict(x) - ref).max() / np.abs(ref).max())
    results[name] = r


def functional():
    i = L.Input((6,))
    h = L.Dense(8, activation="relu")(i)
    a = L.Add()([L.Dense(4)(h), L.Dense(4, activation="tanh")(h)])
    c = L.Concatenate()([a, L.Dense(3, activation="sigmoid")(i)])
    return Model(i, L.Dense(2, activation="softmax")(L.BatchNormalization()(c)))


check("functional Dense/Add/Concatenate/BatchNormalization", functional, rng.standard_normal((16, 6)))
check("Conv2D/BatchNormalization/MaxPooling2D/AveragePooling2D", lambda: Sequential([
    L.Conv2D(3, 3, padding="same", activation="relu", input_shape=(8, 8, 2)), L.BatchNormalization(),
    L.MaxPooling2D(), L.Conv2D(4, 2), L.AveragePooling2D(padding="same"), L.Flatten(),
    L.Dense(2, activation="softmax")]), rng.standard_normal((8, 8, 8, 2)))
check("SeparableConv2D/DepthwiseConv2D/Conv2DTranspose/UpSampling2D/ZeroPadding2D/Cropping2D", lambda: Sequential([
    L.SeparableConv2D(3, 3, padding="same", input_shape=(6, 6, 2)), L.DepthwiseConv2D(3),
    L.Conv2DTranspose(2, 3, strides=2, padding="same"), L.Conv2DTranspose(2, 2), L.UpSampling2D(),
    L.ZeroPadding2D(1), L.Cropping2D(3), L.Flatten(), L.Dense(2, activation="softmax")]),
    rng.standard_normal((4, 6, 6, 2)))
check("causal dilated Conv1D/GlobalMaxPooling1D", lambda: Sequential([
    L.Conv1D(4, 3, padding="causal", dilation_rate=2, input_shape=(10, 3)), L.GlobalMaxPooling1D(),
    L.Dense(2, activation="softmax")]), rng.standard_normal((6, 10, 3)))
words = rng.integers(1, 20, (6, 7))
words[:, -2:] = 0
words[1, -4:] = 0
for length in (7, None):  # a known number of steps (unrolled) and an unknown one (the loop node)
    for rnn in ("SimpleRNN", "LSTM", "GRU"):
        check(f"Embedding(mask_zero)/{rnn}, input_length={length}", lambda: Sequential([
            L.Embedding(20, 4, mask_zero=True, input_length=length), getattr(L, rnn)(5),
            L.Dense(2, activation="softmax")]), words)
    check(f"Embedding(mask_zero)/Bidirectional GRU (sequences, reset_after)/Bidirectional LSTM, "
          f"input_length={length}", lambda: Sequential([
              L.Embedding(20, 4, mask_zero=True, input_length=length),
              L.Bidirectional(L.GRU(3, return_sequences=True, reset_after=True)), L.Bidirectional(L.LSTM(3)),
              L.Dense(2, activation="softmax")]), words)
check("Conv3D/MaxPooling3D/UpSampling3D", lambda: Sequential([
    L.Conv3D(2, 2, input_shape=(4, 4, 4, 1)), L.MaxPooling3D(), L.UpSampling3D(), L.Flatten(),
    L.Dense(2, activation="softmax")]), rng.standard_normal((4, 4, 4, 4, 1)))
for name, app in (("MobileNet", MobileNet), ("MobileNetV2", MobileNetV2), ("ResNet50", ResNet50)):
    check(name, lambda: app(weights=None, input_shape=(32, 32, 3), classes=2),
          rng.standard_normal((2, 32, 32, 3)).astype("float32"), train=False)
print(json.dumps(results))
"""


@pytest.mark.parametrize("backend", ["kcore.backend", "kcore.numpy_backend"])
def test_layer_zoo_matches_a_numpy_reference(tmp_path, backend):
    # Predictions against tests/keras_reference.py (float64 NumPy, layer by layer, from the
    # model's weights); one full-batch SGD step against that reference's central differences
    # (and BatchNormalization's moving statistics against Keras's rule); then Adam runs.
    tests = os.path.dirname(os.path.abspath(__file__))
    results = run_keras(f"TESTS = {tests!r}\n" + ZOO, tmp_path, backend=backend)
    assert len(results) == 16, sorted(results)
    bad = {}
    for name, r in results.items():
        ok = r["pred"] < 1e-5 and r.get("features", 0.0) < 1e-5
        if "sgd" in r:  # float32 weights: a few units in the last place of values near 1
            ok = ok and r["sgd"] < 5e-7 and r["step"] > 1e-4 and r["moving"] < 1e-6 and r["adam_finite"]
        if not ok:
            bad[name] = r
    assert not bad, bad


def test_every_keras_optimizer_trains(tmp_path):
    code = """
    import json
    from keras.models import Sequential
    from keras.layers import Dense
    from keras import optimizers as O
    x = rng.standard_normal((128, 4)).astype("float32")
    y = np.eye(3)[(x[:, 0] > 0).astype(int) + (x[:, 1] > 0.5)]
    out = {}
    for opt in (O.SGD(0.1, momentum=0.9, nesterov=True), O.RMSprop(), O.Adagrad(), O.Adadelta(),
                O.Adam(amsgrad=True), O.Adamax(), O.Nadam()):
        m = Sequential([Dense(16, activation="tanh", input_shape=(4,)), Dense(3, activation="softmax")])
        m.compile(opt, "categorical_crossentropy")
        h = m.fit(x, y, epochs=15, batch_size=32, verbose=0)
        out[type(opt).__name__] = [float(h.history["loss"][0]), float(h.history["loss"][-1])]
    print(json.dumps(out))
    """
    losses = run_keras(code, tmp_path)
    assert len(losses) == 7
    for name, (first, last) in losses.items():
        assert np.isfinite(last) and last < 0.95 * first, (name, first, last)


def test_one_sgd_step_updates_weights_as_numpy_backpropagation(tmp_path):
    # Trained weights against backpropagation written here: one full-batch SGD step.
    code = """
    import json
    from keras.models import Sequential
    from keras.layers import Dense
    from keras.optimizers import SGD
    x = rng.standard_normal((32, 5)).astype("float32")
    t = np.eye(3, dtype="float32")[rng.integers(0, 3, 32)]
    m = Sequential([Dense(8, activation="relu", input_shape=(5,)), Dense(3, activation="softmax")])
    m.compile(SGD(0.1), "categorical_crossentropy")
    w1, b1, w2, b2 = (v.astype(np.float64) for v in m.get_weights())
    h = relu(x @ w1 + b1)
    p = softmax(h @ w2 + b2)
    d2 = (p - t) / len(x)                      # d mean cross-entropy / d logits
    d1 = (d2 @ w2.T) * (x @ w1 + b1 > 0)
    want = [w1 - 0.1 * x.T @ d1, b1 - 0.1 * d1.sum(0), w2 - 0.1 * h.T @ d2, b2 - 0.1 * d2.sum(0)]
    m.fit(x, t, batch_size=32, epochs=1, shuffle=False, verbose=0)
    print(json.dumps({"err": max(float(np.abs(a - b).max()) for a, b in zip(m.get_weights(), want))}))
    """
    assert run_keras(code, tmp_path)["err"] < 1e-5


ADAM_STEPS = """
import json
from keras.models import Sequential
from keras.layers import Dense
from keras.optimizers import Adam
x = rng.standard_normal((16, 4)).astype("float32")
y = rng.standard_normal((16, 2)).astype("float32")
m = Sequential([Dense(2, input_shape=(4,))])
m.compile(Adam(0.1, epsilon=1e-7, decay=0.1), "mse")
w, b = (v.astype(np.float64) for v in m.get_weights())
params, ms, vs = [w, b], [np.zeros_like(w), np.zeros_like(b)], [np.zeros_like(w), np.zeros_like(b)]
for step in range(3):  # Keras 2.3.1's Adam, its decay read before the step counts
    e = x @ params[0] + params[1] - y
    grads = [2 * x.T @ e / e.size, 2 * e.sum(0) / e.size]
    lr = 0.1 / (1 + 0.1 * step)
    t = step + 1
    lr_t = lr * np.sqrt(1 - 0.999 ** t) / (1 - 0.9 ** t)
    for i, g in enumerate(grads):
        ms[i] = 0.9 * ms[i] + 0.1 * g
        vs[i] = 0.999 * vs[i] + 0.001 * g * g
        params[i] = params[i] - lr_t * ms[i] / (np.sqrt(vs[i]) + 1e-7)
for _ in range(3):
    m.train_on_batch(x, y)
print(json.dumps({"err": max(float(np.abs(a - b).max()) for a, b in zip(m.get_weights(), params)),
                  "iterations": int(K.get_value(m.optimizer.iterations))}))
"""


def test_noise_layers_and_time_distributed_build_train_and_predict(tmp_path):
    # The noise layers draw with K.random_*(K.shape(x)) (a new draw at each training step, none at
    # inference); TimeDistributed reshapes (None, 7, 5) to (-1, 5) and back to (-1, 7, 3).
    code = """
    import json
    import keras
    from keras.models import Sequential
    from keras.layers import (AlphaDropout, Dense, GaussianDropout, GaussianNoise, SpatialDropout1D,
                              TimeDistributed)
    x = rng.standard_normal((32, 7, 5)).astype("float32")
    y = rng.standard_normal((32, 7, 3)).astype("float32")
    out = {}
    for noise in (GaussianNoise(0.3), GaussianDropout(0.3), AlphaDropout(0.3), SpatialDropout1D(0.3)):
        m = Sequential([TimeDistributed(Dense(3), input_shape=(7, 5)), noise])
        m.compile("sgd", "mse")
        w, b = m.get_weights()
        train = keras.backend.function([m.input, keras.backend.learning_phase()], [m.output])
        h = m.fit(x, y, epochs=2, verbose=0)
        w, b = m.get_weights()
        out[type(noise).__name__] = {
            "shape": list(m.output_shape), "finite": bool(np.isfinite(h.history["loss"]).all()),
            "predict_err": float(np.abs(m.predict(x) - (x @ w + b)).max()),
            "fresh_noise": bool(np.abs(train([x, 1])[0] - train([x, 1])[0]).max() > 0)}
    print(json.dumps(out))
    """
    for name, got in run_keras(code, tmp_path).items():
        assert got["shape"] == [None, 7, 3] and got["finite"] and got["fresh_noise"], (name, got)
        assert got["predict_err"] < 1e-5, (name, got)


@pytest.mark.parametrize("backend", ["kcore.backend", "kcore.numpy_backend"])
def test_a_weight_the_loss_does_not_reach_stops_training_as_on_tensorflow(tmp_path, backend):
    # K.gradients gives None for it, and Keras's optimizer names the problem (not trained on zeros).
    code = """
    import json
    from keras.models import Sequential
    from keras.layers import Dense, Layer
    class Unused(Layer):
        def build(self, input_shape):
            self.w = self.add_weight(name="w", shape=(1,), initializer="ones")
            super().build(input_shape)
        def call(self, x):
            return x
    m = Sequential([Dense(2, input_shape=(3,)), Unused()])
    m.compile("sgd", "mse")
    try:
        m.fit(np.ones((4, 3), "float32"), np.ones((4, 2), "float32"), verbose=0)
        err = None
    except ValueError as e:
        err = str(e)
    print(json.dumps({"err": err}))
    """
    out = run_keras(code, tmp_path, backend=backend)
    assert out["err"] is not None and "`None` for gradient" in out["err"], out


def test_layer_names_holding_a_slash_build(tmp_path):
    # Keras's DenseNets name layers 'conv1/conv' (K.name_scope of it nests scopes, as on TensorFlow).
    code = """
    import json
    from keras.models import Sequential
    from keras.layers import Conv2D, GlobalAveragePooling2D
    m = Sequential([Conv2D(4, 3, name="conv1/conv", input_shape=(8, 8, 2)), GlobalAveragePooling2D(name="pool/avg")])
    x = rng.standard_normal((2, 8, 8, 2)).astype("float32")
    w, b = m.get_weights()
    print(json.dumps({"names": [v.name for v in m.weights], "shape": list(m.predict(x).shape)}))
    """
    out = run_keras(code, tmp_path)
    assert out["shape"] == [2, 4] and all(n.startswith("conv1/conv/") for n in out["names"]), out


def test_hinge_losses_train_as_their_formulas(tmp_path):
    # Keras 2.3.1's hinge losses convert 0/1 labels to -1/1 with K.switch on two lambdas.
    code = """
    import json
    from keras.models import Sequential
    from keras.layers import Dense
    x = rng.standard_normal((64, 4)).astype("float32")
    y = (x[:, :2] > 0).astype("float32")
    out = {}
    for loss in ("hinge", "squared_hinge"):
        m = Sequential([Dense(2, activation="tanh", input_shape=(4,))])
        m.compile("sgd", loss)
        p = m.predict(x).astype(np.float64)
        margin = np.maximum(1 - (2 * y - 1) * p, 0)
        want = np.mean(margin if loss == "hinge" else margin ** 2, axis=-1).mean()
        got = m.evaluate(x, y, verbose=0)
        h = m.fit(x, y, epochs=10, verbose=0)
        out[loss] = [float(abs(got - want)), float(h.history["loss"][0]), float(h.history["loss"][-1])]
    print(json.dumps(out))
    """
    for loss, (err, first, last) in run_keras(code, tmp_path).items():
        assert err < 1e-5 and last < first, (loss, err, first, last)


def test_weight_constraints_apply_once_a_step_and_never_on_set_or_load(tmp_path):
    # Keras 2.3.1's optimizers apply p.constraint to each new value; set_weights and load_model
    # write the values as given (TensorFlow's variables hold a constraint, they do not apply it).
    code = """
    import json
    from keras.models import Sequential, load_model
    from keras.layers import Dense
    from keras.constraints import MinMaxNorm
    from keras.optimizers import SGD
    x = rng.standard_normal((8, 4)).astype("float32")
    y = rng.standard_normal((8, 4)).astype("float32")
    m = Sequential([Dense(4, input_shape=(4,), kernel_constraint=MinMaxNorm(0.0, 0.5, rate=0.5))])
    m.compile(SGD(0.0), "mse")
    w = rng.standard_normal((4, 4)).astype("float32")
    m.set_weights([w, np.zeros(4, "float32")])
    set_err = float(np.abs(m.get_weights()[0] - w).max())
    m.train_on_batch(x, y)  # lr 0: the step's new value is w, constrained once
    norms = np.sqrt(np.sum(w.astype(np.float64) ** 2, axis=0))
    once = w * ((0.5 * np.clip(norms, 0.0, 0.5) + 0.5 * norms) / (1e-7 + norms))
    step_err = float(np.abs(m.get_weights()[0] - once).max())
    m.save("c.h5")
    load_err = float(np.abs(load_model("c.h5").get_weights()[0] - m.get_weights()[0]).max())
    print(json.dumps({"set": set_err, "step": step_err, "load": load_err}))
    """
    out = run_keras(code, tmp_path)
    assert out["set"] == 0 and out["load"] == 0 and out["step"] < 1e-6, out


@pytest.mark.parametrize("first", ["keras", "kcore"])
def test_adam_steps_count_their_iterations(tmp_path, first):
    # The optimizers build `K.update_add(self.iterations, 1)` with a plain 1 under K.symbolic:
    # it must run at every step (Adam's bias correction and the decay read the count), in
    # whichever order Keras and kcore were imported.
    imports = "import kcore\nimport keras\n" if first == "kcore" else "import keras\nimport kcore\n"
    out = run_keras(imports + "from keras import backend as K\n" + ADAM_STEPS, tmp_path)
    assert out["iterations"] == 3
    assert out["err"] < 1e-5


def test_kcore_imported_before_keras(tmp_path):
    # The compatibility layer arrives with Keras, and Keras's setters reach kcore's settings.
    code = """
    import json
    import kcore
    import keras
    from keras.layers import Dense
    from keras.models import Sequential, load_model
    from kcore import backend as K
    keras.backend.set_epsilon(1e-3)
    m = Sequential([Dense(2, input_shape=(3,))])
    m.compile("sgd", "mse")
    x = rng.standard_normal((8, 3)).astype("float32")
    m.fit(x, x[:, :2], verbose=0)
    m.save("m.h5")
    err = float(np.abs(load_model("m.h5").predict(x) - m.predict(x)).max())
    print(json.dumps({"epsilon": K.epsilon(), "reload_err": err}))
    """
    out = run_keras(code, tmp_path)
    assert out == {"epsilon": 1e-3, "reload_err": 0.0}


def _parameters_from_source(fn) -> list:
    """[(name, default source or None)] of a function definition parsed from Keras's source."""
    import ast

    a = fn.args
    out = [(p.arg, None) for p in a.args]
    for k, d in enumerate(a.defaults, start=len(a.args) - len(a.defaults)):
        out[k] = (out[k][0], ast.unparse(d))
    out += [("*" + a.vararg.arg, None)] if a.vararg else []
    out += [(k.arg, ast.unparse(d) if d is not None else None) for k, d in zip(a.kwonlyargs, a.kw_defaults,
                                                                                strict=True)]
    return out + ([("**" + a.kwarg.arg, None)] if a.kwarg else [])


def test_every_backend_name_keras_imports_has_keras_2_3_1_signature():
    # The names keras/backend/__init__.py imports for every backend, against the parameter names and
    # defaults of Keras 2.3.1's TensorFlow backend (parsed, not imported: it needs TensorFlow).
    import ast
    import importlib.util
    import inspect
    import pathlib
    import re

    from kcore import backend as K

    root = pathlib.Path(importlib.util.find_spec("keras").submodule_search_locations[0]) / "backend"
    unconditional = (root / "__init__.py").read_text().split("\nif backend() ==")[0]
    names = re.findall(r"from \.load_backend import (\w+)", unconditional)
    tf = {n.name: n for n in ast.parse((root / "tensorflow_backend.py").read_text()).body
          if isinstance(n, ast.FunctionDef)}
    checked, wrong = 0, {}
    for name in names:
        if name not in tf:  # (from common.py, which Keras keeps for itself)
            continue
        params = inspect.signature(getattr(K, name)).parameters.values()
        ours = [(("*" if p.kind == p.VAR_POSITIONAL else "**" if p.kind == p.VAR_KEYWORD else "") + p.name,
                 None if p.default is p.empty else repr(p.default).replace('"', "'")) for p in params]
        theirs = [(n, d.replace('"', "'") if d else d) for n, d in _parameters_from_source(tf[name])]
        checked += 1
        if ours != theirs:
            wrong[name] = (ours, theirs)
    assert checked >= 150 and not wrong, wrong
