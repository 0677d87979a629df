"""The inference families of `python -m kcore.bench`: elementwise ops and activations, convolutions,
and Keras models (`--keras`). Each case times kcore beside what a user would run instead: NumPy
written as its users write it, and PyTorch CPU where it is installed (an optional bench extra,
never a dependency of kcore), in interleaved rounds; speedups are medians of per-round ratios.

Convolutions have no NumPy form; their NumPy column is kcore's NumPy backend (the float64 reference
rounded to the dtype), what "NumPy-based float16 math" means in the targets, on float16 only;
nearest upsampling's is np.repeat along both axes.
"""
from __future__ import annotations

import dataclasses
import math
import os
import subprocess
import sys

import numpy as np

import kcore
from kcore import _reference
from kcore import backend as K
from kcore import numpy_backend as NK
from kcore.bench import FAMILIES, geomean, interleaved, torch_runs, torch_threads  # the core families' protocol

EW_OPS = ("add", "multiply", "scale", "maximum", "bias_add", "batch_normalization", "square", "sqrt", "relu", "relu6",
          "leaky_relu", "elu", "sigmoid", "hard_sigmoid", "tanh", "softplus", "softsign", "exp", "log", "softmax",
          "preprocess")
# scale: x times a Python number (Keras's x * 0.5, a Lambda layer's scale).
# preprocess: a uint8 NHWC image batch -> float32 -> per-channel mean and std -> normalized ->
# channels_first -> float16 (the case's dtype names the result); float16 only.
PREPROCESS_SHAPE = (32, 224, 224, 3)
EW_DTYPES = ("float16", "float32")
EW_SHAPE = (16, 64, 64, 64)  # 4M elements, NHWC with 64 channels
SOFTMAX_SHAPE = (4096, 1024)
# (name, batch, spatial, cin, cout or depth multiplier, kernel, stride, kind): ResNet50 and
# MobileNet layers, NHWC; then a decoder's upsampling (Conv2DTranspose, UpSampling2D), where
# spatial is the input's and stride the factor.
CONV_CASES = (("resnet-stem-7x7s2", 8, 224, 3, 64, 7, 2, "conv"),
              ("3x3s1-64", 8, 56, 64, 64, 3, 1, "conv"),
              ("3x3s2-128", 8, 56, 128, 128, 3, 2, "conv"),
              ("1x1s1-128", 8, 28, 128, 128, 1, 1, "conv"),
              ("1x1s1-256-1024", 8, 14, 256, 1024, 1, 1, "conv"),
              ("1x1s2-512-1024", 8, 28, 512, 1024, 1, 2, "conv"),
              ("dw3x3s1-112x32", 8, 112, 32, 1, 3, 1, "depthwise"),
              ("dw3x3s2-112x64", 8, 112, 64, 1, 3, 2, "depthwise"),
              ("dw3x3s1-14x512", 8, 14, 512, 1, 3, 1, "depthwise"),
              ("transpose3x3s2-128-64", 8, 28, 128, 64, 3, 2, "transpose"),
              ("upsample-nearest-x2", 8, 56, 64, 64, 1, 2, "nearest"),
              ("upsample-bilinear-x2", 8, 56, 64, 64, 1, 2, "bilinear"))
# The float16 cases timed against the NumPy backend (its float64 reference is slow on big layers).
CONV_F16_CASES = ("1x1s1-128", "dw3x3s1-14x512", "transpose3x3s2-128-64", "upsample-bilinear-x2")


@dataclasses.dataclass(frozen=True)
class NNCase:
    family: str  # "elementwise" or "conv"
    op: str
    dtype: str
    threads: int

    @property
    def name(self):
        return f"{self.op}-{self.dtype}-t{self.threads}"


@dataclasses.dataclass
class NNResult:
    case: NNCase
    t_kcore: float
    t_numpy: float | None
    t_torch: float | None
    speedup: float  # NumPy's time / kcore's (NaN without a NumPy column)
    torch_speedup: float  # PyTorch's time / kcore's (NaN without PyTorch)


def elementwise_cases(dtypes, thread_counts, ops=EW_OPS):
    return [NNCase("elementwise", op, dt, t) for t in thread_counts for dt in dtypes for op in ops
            if op != "preprocess" or dt == "float16"]


def conv_cases(thread_counts):
    cases = []
    for t in thread_counts:
        cases += [NNCase("conv", c[0], "float32", t) for c in CONV_CASES]
        cases += [NNCase("conv", name, "float16", t) for name in CONV_F16_CASES]
    return cases


def _numpy_elementwise(op, x, y, b, stats):
    """The op as NumPy's users write it (dtype-preserving)."""
    t = x.dtype.type
    if op == "add":
        return lambda: x + y
    if op == "multiply":
        return lambda: x * y
    if op == "scale":
        return lambda: x * t(0.5)
    if op == "maximum":
        return lambda: np.maximum(x, y)
    if op == "bias_add":
        return lambda: x + b
    if op == "square":
        return lambda: np.square(x)
    if op == "sqrt":
        return lambda: np.sqrt(y)
    if op == "batch_normalization":
        m, v, beta, gamma = stats
        return lambda: (x - m) / np.sqrt(v + t(1e-3)) * gamma + beta
    if op == "relu":
        return lambda: np.maximum(x, t(0))
    if op == "relu6":
        return lambda: np.clip(x, t(0), t(6))
    if op == "leaky_relu":
        return lambda: np.where(x > 0, x, t(0.3) * x)
    if op == "elu":
        return lambda: np.where(x > 0, x, np.expm1(x))
    if op == "sigmoid":
        return lambda: t(1) / (t(1) + np.exp(-x))
    if op == "hard_sigmoid":
        return lambda: np.clip(x * t(0.2) + t(0.5), t(0), t(1))
    if op == "tanh":
        return lambda: np.tanh(x)
    if op == "softplus":
        return lambda: np.logaddexp(t(0), x)
    if op == "softsign":
        return lambda: x / (t(1) + np.abs(x))
    if op == "exp":
        return lambda: np.exp(x)
    if op == "log":
        return lambda: np.log(y)
    if op == "softmax":
        def softmax():
            e = np.exp(x - np.max(x, axis=-1, keepdims=True))
            return e / np.sum(e, axis=-1, keepdims=True)
        return softmax
    if op == "preprocess":
        def preprocess():
            f = x.astype(np.float32)
            y = (f - f.mean(axis=(0, 1, 2))) / f.std(axis=(0, 1, 2))
            return np.ascontiguousarray(y.transpose(0, 3, 1, 2)).astype(np.float16)
        return preprocess
    raise ValueError(op)


def _kcore_elementwise(op, x, y, b, stats):
    if op in ("add", "multiply", "maximum"):
        f = getattr(K, op if op == "maximum" else f"_{op}")  # (tensors' + and *: the ops _add and _multiply)
        return lambda: f(x, y)
    if op == "scale":
        return lambda: K._multiply(x, 0.5)
    if op == "bias_add":
        return lambda: K.bias_add(x, b)
    if op == "batch_normalization":
        m, v, beta, gamma = stats
        return lambda: K.batch_normalization(x, m, v, beta, gamma, epsilon=1e-3)
    if op == "sqrt":
        return lambda: K.sqrt(y)
    if op == "relu6":
        return lambda: K.relu(x, max_value=6)
    if op == "leaky_relu":
        return lambda: K.relu(x, alpha=0.3)
    if op == "log":
        return lambda: K.log(y)
    if op == "preprocess":
        def preprocess():
            f = K.cast(x, "float32")
            m, v = K.mean(f, axis=(0, 1, 2)), K.var(f, axis=(0, 1, 2))
            normed = K.batch_normalization(f, m, v, None, None, epsilon=0.0)
            return K.cast(K.permute_dimensions(normed, (0, 3, 1, 2)), "float16")
        return preprocess
    f = getattr(K, op)
    return lambda: f(x)


def _torch_elementwise(torch, op, x, y, b, stats):
    F = torch.nn.functional
    tx, ty, tb = (torch.from_numpy(a) for a in (x, y, b))
    if op == "add":
        return lambda: tx + ty
    if op == "multiply":
        return lambda: tx * ty
    if op == "scale":
        return lambda: tx * 0.5
    if op == "maximum":
        return lambda: torch.maximum(tx, ty)
    if op == "bias_add":
        return lambda: tx + tb
    if op == "batch_normalization":
        m, v, beta, gamma = (torch.from_numpy(a) for a in stats)
        nchw = tx.permute(0, 3, 1, 2)  # the NHWC data as PyTorch's channels_last tensor
        return lambda: F.batch_norm(nchw, m, v, gamma, beta, training=False, eps=1e-3)
    simple = {"relu": torch.relu, "relu6": F.relu6, "leaky_relu": lambda a: F.leaky_relu(a, 0.3), "elu": F.elu,
              "sigmoid": torch.sigmoid, "hard_sigmoid": lambda a: torch.clamp(a * 0.2 + 0.5, 0, 1),
              "tanh": torch.tanh, "softplus": F.softplus, "softsign": F.softsign, "exp": torch.exp,
              "softmax": lambda a: torch.softmax(a, -1), "square": torch.square}
    if op in ("log", "sqrt"):
        return lambda: getattr(torch, op)(ty)
    if op == "preprocess":
        def preprocess():
            f = tx.float()
            yy = (f - f.mean(dim=(0, 1, 2))) / f.std(dim=(0, 1, 2), unbiased=False)
            return yy.permute(0, 3, 1, 2).contiguous().half()
        return preprocess
    f = simple[op]
    return lambda: f(tx)


def _elementwise_inputs(case):
    rng = np.random.default_rng(5)
    if case.op == "preprocess":
        img = rng.integers(0, 256, PREPROCESS_SHAPE, dtype=np.uint8)
        return img, img, img[0, 0, 0], (img[0, 0, 0],) * 4
    shape = SOFTMAX_SHAPE if case.op == "softmax" else EW_SHAPE
    x = (rng.standard_normal(shape, np.float32) * 2).astype(case.dtype)
    y = (np.abs(rng.standard_normal(shape, np.float32)) + 0.1).astype(case.dtype)
    c = shape[-1]
    b = rng.standard_normal(c, np.float32).astype(case.dtype)
    stats = (rng.standard_normal(c, np.float32).astype(case.dtype),
             (rng.uniform(0.5, 2, c)).astype(case.dtype),
             rng.standard_normal(c, np.float32).astype(case.dtype),
             rng.uniform(0.5, 2, c).astype(case.dtype))
    return x, y, b, stats


def _conv_spec(name):
    return next(c for c in CONV_CASES if c[0] == name)


def _conv_inputs(case):
    _, n, size, cin, cout, k, stride, kind = _conv_spec(case.op)
    rng = np.random.default_rng(6)
    x = rng.standard_normal((n, size, size, cin), np.float32).astype(case.dtype)
    wshape = (k, k, cout, cin) if kind == "transpose" else (k, k, cin, cout)
    w = (rng.standard_normal(wshape, np.float32) / math.sqrt(k * k * cin)).astype(case.dtype)
    return x, w, stride, kind


def _same_pads(size, k, stride):
    out = -(-size // stride)
    total = max((out - 1) * stride + k - size, 0)
    return [(total // 2, total - total // 2)] * 2


def _conv_fns(case, torch):
    x, w, stride, kind = _conv_inputs(case)
    n, size, cout, k = x.shape[0], x.shape[1], w.shape[-2 if kind == "transpose" else -1], w.shape[0]

    def call(B):
        if kind in ("conv", "depthwise"):
            conv = B.depthwise_conv2d if kind == "depthwise" else B.conv2d
            return lambda: conv(x, w, strides=(stride, stride), padding="same")
        if kind == "transpose":
            shape = (n, size * stride, size * stride, cout)
            return lambda: B.conv2d_transpose(x, w, shape, (stride, stride), "same")
        return lambda: B.resize_images(x, stride, stride, "channels_last", interpolation=kind)

    kfn = call(K)
    nfn = call(NK) if case.dtype == "float16" else None
    if kind == "nearest":  # as NumPy's users upsample
        nfn = lambda: np.repeat(np.repeat(x, stride, axis=1), stride, axis=2)  # noqa: E731
    tfn = None
    if torch is not None:
        tx = torch.from_numpy(x).permute(0, 3, 1, 2)  # NHWC memory: channels_last
        F = torch.nn.functional
        if kind in ("nearest", "bilinear"):
            tfn = lambda: F.interpolate(tx, scale_factor=stride, mode=kind)  # noqa: E731
        elif kind == "transpose":  # (k, k, Cout, Cin) -> (Cin, Cout, k, k); TensorFlow's same padding
            tw = torch.from_numpy(np.ascontiguousarray(w.transpose(3, 2, 0, 1))).contiguous(
                memory_format=torch.channels_last)
            total = max((size - 1) * stride + k - size * stride, 0)
            pad = (total + 1) // 2
            extra = size * stride - ((size - 1) * stride - 2 * pad + k)
            tfn = lambda: F.conv_transpose2d(tx, tw, stride=stride, padding=pad, output_padding=extra)  # noqa: E731
        else:
            if kind == "depthwise":  # (k, k, C, 1) -> (C, 1, k, k)
                tw = torch.from_numpy(np.ascontiguousarray(w.transpose(2, 3, 0, 1)))
                groups = x.shape[-1]
            else:  # (k, k, Cin, Cout) -> (Cout, Cin, k, k)
                tw = torch.from_numpy(np.ascontiguousarray(w.transpose(3, 2, 0, 1)))
                groups = 1
            tw = tw.contiguous(memory_format=torch.channels_last)
            tfn = lambda: F.conv2d(tx, tw, stride=stride, padding=k // 2, groups=groups)  # noqa: E731
    return x, w, stride, kind, kfn, nfn, tfn


def _check_conv(case, x, w, stride, kind, got):
    # The float64 reference on the first image (the whole batch would take seconds).
    size, k = x.shape[1], w.shape[0]
    if kind in ("nearest", "bilinear"):
        ref = _reference.resize_exact(x[:1], (stride, stride), kind)
        bound = _reference.resize_exact(np.abs(x[:1]), (stride, stride), kind)
    elif kind == "transpose":
        out_sp = (size * stride,) * 2
        pads = _same_pads(size * stride, k, stride)
        ref = _reference.conv_transpose_exact(x[:1], w, out_sp, (stride, stride), (1, 1), pads)
        bound = _reference.conv_transpose_exact(np.abs(x[:1]), np.abs(w), out_sp, (stride, stride), (1, 1), pads)
    else:
        pads = _same_pads(size, k, stride)
        ref = _reference.conv_exact(x[:1], w, (stride, stride), (1, 1), pads, kind == "depthwise")
        bound = _reference.conv_exact(np.abs(x[:1]), np.abs(w), (stride, stride), (1, 1), pads, kind == "depthwise")
    tol = {"float16": 2e-3, "float32": 2e-6}[case.dtype]
    g = np.asarray(got)[:1].astype(np.float64)
    if g.shape != ref.shape or not np.all(np.abs(g - ref) <= tol * bound + 1e-6):
        raise AssertionError(f"{case.name}: result differs from the float64 reference")


def _check_elementwise(case, x, y, b, stats, got):
    if case.op == "preprocess":
        ref = _numpy_elementwise("preprocess", x, y, b, stats)().astype(np.float64)
        if got.shape != ref.shape or not np.allclose(np.asarray(got, np.float64), ref, rtol=2e-3, atol=2e-3):
            raise AssertionError(f"{case.name}: result differs from NumPy's")
        return
    x64 = x.astype(np.float64)
    y64 = y.astype(np.float64)
    b64 = b.astype(np.float64)
    s64 = tuple(s.astype(np.float64) for s in stats)
    with np.errstate(all="ignore"):
        ref = _numpy_elementwise(case.op, x64, y64, b64, s64)()
        if case.op == "leaky_relu":
            ref = np.where(x64 > 0, x64, 0.3 * x64)
        if case.op == "hard_sigmoid":
            ref = np.clip(x64 * 0.2 + 0.5, 0, 1)
    rtol = {"float16": 2e-3, "float32": 1e-5}[case.dtype]
    atol = {"float16": 2e-3, "float32": 1e-5}[case.dtype]
    if case.op == "batch_normalization":
        # The per-channel statistics are rounded to the dtype at each step (as TensorFlow does), and
        # x * scale cancels against mean * scale: bounded by the terms' magnitudes.
        m, v, beta, gamma = s64
        scale = np.abs(gamma) / np.sqrt(v + 1e-3)
        atol = 4 * rtol * ((np.abs(x64) + np.abs(m)) * scale + np.abs(beta))
    g = np.asarray(got, np.float64)
    if g.shape != ref.shape or not np.all(np.abs(g - ref) <= rtol * np.abs(ref) + atol):
        raise AssertionError(f"{case.name}: result differs from the float64 reference")


def run_nn_cases(cases, rounds, min_time, torch=None, progress=None):
    """The cases' results, each passed to `progress` as soon as it is measured; `torch`: the
    PyTorch module to time beside NumPy (None: NumPy only)."""
    results = []
    default_threads = kcore.get_num_threads()
    torch_before = torch.get_num_threads() if torch is not None else 0
    try:
        with np.errstate(all="ignore"):
            for case in cases:
                kcore.set_num_threads(case.threads)
                torch_threads(torch, case.threads)
                if case.family == "elementwise":
                    x, y, b, stats = _elementwise_inputs(case)
                    kfn = _kcore_elementwise(case.op, x, y, b, stats)
                    nfn = _numpy_elementwise(case.op, x, y, b, stats)
                    tfn = _torch_elementwise(torch, case.op, x, y, b, stats) if torch is not None else None
                    _check_elementwise(case, x, y, b, stats, kfn())
                else:
                    x, w, stride, kind, kfn, nfn, tfn = _conv_fns(case, torch)
                    _check_conv(case, x, w, stride, kind, kfn())
                (tk, tn, tt), (_, rn, rt) = interleaved([kfn, nfn, torch_runs(tfn)], rounds, min_time)
                assert tk is not None
                results.append(NNResult(case, tk, tn, tt, rn, rt))
                if progress:
                    progress(results[-1])
    finally:
        kcore.set_num_threads(default_threads)
        torch_threads(torch, torch_before)
    return results


def _geomean(values):
    return geomean(v for v in values if not math.isnan(v))


# --- Keras models ------------------------------------------------------------------------------

KERAS_MODELS = ("MobileNet", "ResNet50")
_KERAS_SCRIPT = r"""
import json, os, sys, time, statistics
import numpy as np
name, batch, rounds, engine = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
if engine == "kcore":
    import keras
    from keras import applications
else:
    import tf_keras as keras
    from tf_keras import applications
np.random.seed(0)
model = getattr(applications, name)(weights=None, input_shape=(224, 224, 3))
x = np.random.default_rng(0).uniform(-1, 1, (batch, 224, 224, 3)).astype("float32")
model.predict(x, batch_size=batch)
times = []
for _ in range(rounds):
    t = time.perf_counter()
    y = model.predict(x, batch_size=batch)
    times.append(time.perf_counter() - t)
print(json.dumps({"median_s": statistics.median(times), "checksum": float(np.abs(y).sum())}))
"""


def keras_engines(tf_python=None):
    """The engines `--keras` can time: kcore (Keras 2.3.1 installed) and tf_keras (installed here,
    or in the interpreter `tf_python`)."""
    import importlib.util

    engines = []
    if importlib.util.find_spec("keras") is not None:
        engines.append("kcore")
    if tf_python is not None or importlib.util.find_spec("tf_keras") is not None:
        engines.append("tf_keras")
    return engines


def run_keras(models=KERAS_MODELS, batches=(1, 32), rounds=3, threads=None, tf_python=None):
    """model.predict timings, one fresh process per (model, batch, engine), the engines alternating:
    Keras picks its backend once per process. tf_keras runs in `tf_python` when given. Returns rows
    (model, batch, {engine: seconds or error text})."""
    import json

    engines = keras_engines(tf_python)
    rows = []
    for name in models:
        for batch in batches:
            cell = {}
            for engine in engines:
                env = dict(os.environ)
                if engine == "kcore":
                    env["KERAS_BACKEND"] = "kcore.backend"
                if threads:
                    env["KCORE_NUM_THREADS"] = env["OMP_NUM_THREADS"] = str(threads)
                python = tf_python if engine == "tf_keras" and tf_python else sys.executable
                r = subprocess.run([python, "-c", _KERAS_SCRIPT, name, str(batch), str(rounds), engine],
                                   env=env, capture_output=True, text=True, timeout=1800)
                lines = [ln for ln in r.stdout.splitlines() if ln.startswith("{")]
                if r.returncode != 0 or not lines:
                    cell[engine] = (r.stderr.strip().splitlines() or ["failed"])[-1]
                else:
                    cell[engine] = json.loads(lines[-1])["median_s"]
            rows.append((name, batch, cell))
    return rows


def format_keras(rows) -> str:
    lines = [f"{'model':<10} {'batch':>5} {'kcore':>11} {'tf_keras':>11} {'kcore speedup':>14}"]
    for name, batch, cell in rows:
        k, t = cell.get("kcore"), cell.get("tf_keras")

        def show(v):
            return "-" if v is None else (f"{v * 1e3:.0f}ms" if isinstance(v, float) else "error")

        ratio = f"{t / k:.2f}x" if isinstance(k, float) and isinstance(t, float) else "-"
        lines.append(f"{name:<10} {batch:>5} {show(k):>11} {show(t):>11} {ratio:>14}")
        for engine, v in cell.items():
            if isinstance(v, str):
                lines.append(f"    {engine}: {v}")
    if not any("tf_keras" in cell for _, _, cell in rows):
        lines.append("(tf_keras is not installed: pip install tensorflow-cpu tf-keras in a venv of its own and pass "
                     "--tf-python to compare)")
    return "\n".join(lines)


def write_chart(results, path: str) -> str:
    """A PNG of speedups per family against NumPy and PyTorch (geomean, worst case as an error
    bar), from the core families' and the inference families' results. Needs matplotlib (the
    bench extra); returns what was written or why not."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "chart skipped: matplotlib is not installed (pip install 'kcore[bench]')"
    from matplotlib.ticker import FormatStrFormatter, NullFormatter

    threads = kcore.get_num_threads()  # the default thread count's cases
    bars = []  # (label, against, geomean, worst)
    groups: dict = {}
    for r in results:
        if r.case.threads == threads:
            # the inference families per dtype: PyTorch's float16 convolutions are slow enough to hide float32's
            label = f"{r.case.family}\n{r.case.dtype}" if isinstance(r, NNResult) else r.case.family
            groups.setdefault((label, "NumPy"), []).append(r.speedup)
            groups.setdefault((label, "PyTorch"), []).append(r.torch_speedup)
    order = {f: i for i, f in enumerate(FAMILIES)}
    for (family, against), vals in sorted(groups.items(), key=lambda kv: (order[kv[0][0].split()[0]], kv[0])):
        vals = [v for v in vals if not math.isnan(v)]
        if vals:
            bars.append((family, against, _geomean(vals), min(vals)))
    fig, ax = plt.subplots(figsize=(max(6, 0.8 * len(bars) + 2), 4))
    xs = range(len(bars))
    colors = ["tab:blue" if b[1] == "NumPy" else "tab:orange" for b in bars]
    ax.bar(xs, [b[2] for b in bars], color=colors)
    ax.errorbar(xs, [b[2] for b in bars], yerr=[[b[2] - b[3] for b in bars], [0] * len(bars)], fmt="none",
                ecolor="black", capsize=3)
    ax.axhline(1.0, color="gray", linewidth=0.8)
    ax.set_xticks(list(xs), [f"{b[0]}\nvs {b[1]}" for b in bars], fontsize=8)
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(FormatStrFormatter("%gx"))
    ax.yaxis.set_minor_formatter(NullFormatter())
    ax.set_ylabel("speedup (geomean; bar to the worst case)")
    ax.set_title(f"kcore {kcore.__version__}: speedup per family, {threads} threads")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return f"chart written to {path}"
