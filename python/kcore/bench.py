"""Side-by-side benchmark of kcore against NumPy (and PyTorch): `python -m kcore.bench [--full]`.

Each case runs kcore, NumPy and (with `--torch`) PyTorch CPU on the same seeded input in
interleaved rounds; each reported speedup is the median of the per-round ratios (the other
library's time / kcore's), which is robust on a shared, noisy machine. Every case first checks
kcore's result against a float64 reference (or NumPy's, where the result is exact). Each row is
printed as soon as its case is measured. The memory bandwidth the machine can stream is measured
at the same thread count (reads with kcore's probe kernel; copies with the faster of kcore's
streaming copy and NumPy's), so cases can be reported as a share of it. The inference families
(elementwise ops and activations, convolutions) and `--keras` (Keras models' predict) live in
kcore/bench_nn.py.
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import importlib.util
import json
import math
import operator
import os
import platform
import statistics
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

import kcore
from kcore import backend as K
from kcore._runtime import _core

DTYPES = ("float16", "float32", "float64")
REDUCE_OPS = ("sum", "prod", "mean", "max", "min", "var", "std", "any", "all", "argmax", "argmin")
SHAPES = {"1e3": (1000,), "512x512": (512, 512), "2048x2048": (2048, 2048),
          "4096x4096": (4096, 4096), "64x256x256": (64, 256, 256)}
LARGE = ("512x512", "2048x2048", "4096x4096", "64x256x256")  # "512x512 and up"
SCAN_OPS = ("cumsum", "cumprod")
CAST_PAIRS = tuple(f"{a}->{b}" for a in DTYPES for b in DTYPES if a != b)
PERMUTE_PATTERNS = ((0, 2, 1), (2, 1, 0), (1, 0, 2))
FAMILIES = ("reduce", "scan", "transpose", "cast", "dot", "elementwise", "conv")
NN_FAMILIES = ("elementwise", "conv")
# (batch, M, K, N) for batch_dot with axes [2, 1] against np.matmul; dot shapes against np.dot.
BATCH_DOT_SHAPES = ((32, 1, 20, 30), (256, 16, 16, 16), (128, 64, 64, 64), (64, 128, 64, 128), (8, 512, 512, 512))
DOT_SHAPES = (((2, 3), (3, 4)), ((4096, 64), (64, 64)), ((512, 512), (512, 512)))
QUICK_OPS = ("sum", "mean", "max", "var", "argmax")
QUICK_SHAPES = ("1e3", "512x512", "2048x2048")
# Preprocessing's layouts: image batches NHWC <-> NCHW, and casts of integer data to floats.
INT_DTYPES = ("uint8", "int8", "int32")
INT_CAST_PAIRS = tuple(f"{a}->{b}" for a in INT_DTYPES for b in DTYPES)
QUICK_INT_CAST_PAIRS = ("uint8->float16", "uint8->float32", "int8->float32", "int32->float32")
IMAGE_CHANNELS = (1, 3, 4, 64)
NHWC_SHAPES = {f"32x224x224x{c}": (32, 224, 224, c) for c in IMAGE_CHANNELS}
NCHW_SHAPES = {f"32x{c}x224x224": (32, c, 224, 224) for c in IMAGE_CHANNELS}
IMAGE_SHAPES = {**NHWC_SHAPES, **NCHW_SHAPES}
# Casts take the raw images (NHWC; their layout does not change a cast); 64 channels are a feature
# map, and NumPy's int32 -> float16 of one takes seconds a call.
CAST_IMAGE_SHAPES = tuple(f"32x224x224x{c}" for c in IMAGE_CHANNELS if c <= 4)
QUICK_IMAGE_SHAPES = ("32x224x224x3", "32x3x224x224")
IMAGE_DTYPES = ("uint8", "float16", "float32")
TO_NCHW, TO_NHWC = (0, 3, 1, 2), (0, 2, 3, 1)


@dataclasses.dataclass(frozen=True)
class Case:
    family: str
    op: str
    dtype: str
    shape_name: str
    axis: Any  # None, an int, a tuple of ints, or a permutation pattern
    order: str  # "C" or "T" (a transposed view of a C array)
    threads: int

    @property
    def shape(self):
        return SHAPES.get(self.shape_name) or IMAGE_SHAPES.get(self.shape_name, ())

    @property
    def name(self):
        if self.family == "dot":
            return f"{self.op}-{self.dtype}-{self.shape_name}-t{self.threads}"
        if self.family == "transpose":
            pattern = "T" if self.axis is None else "".join(map(str, self.axis))
            return f"{self.op}{pattern}-{self.dtype}-{self.shape_name}-{self.order}-t{self.threads}"
        if self.family == "cast":
            return f"cast-{self.dtype}-{self.shape_name}-{self.order}-t{self.threads}"
        return f"{self.op}-{self.dtype}-{self.shape_name}-axis{self.axis}-{self.order}-t{self.threads}"

    @property
    def src_dtype(self):
        return self.dtype.split("->")[0]


def reduce_axes(shape_name):
    nd = len(SHAPES[shape_name])
    if nd == 1:
        return [None, 0]
    return [None, 0, -1] + ([(0, 2)] if nd == 3 else [])


def reduction_cases(ops, dtypes, shapes, thread_counts, orders=("C", "T")):
    cases = []
    for t in thread_counts:
        for shape_name in shapes:
            for dtype in dtypes:
                for op in ops:
                    for axis in reduce_axes(shape_name):
                        if op in ("argmax", "argmin") and (axis is None or isinstance(axis, tuple)):
                            continue  # one axis only (axis=None is axis 0, as in TensorFlow)
                        for order in orders:
                            if order == "T" and len(SHAPES[shape_name]) == 1:
                                continue
                            cases.append(Case("reduce", op, dtype, shape_name, axis, order, t))
    return cases


def scan_cases(ops, dtypes, shapes, thread_counts, orders=("C", "T")):
    return [Case("scan", op, dtype, shape_name, axis, order, t)
            for t in thread_counts for shape_name in shapes for dtype in dtypes for op in ops
            for axis in (0, -1) for order in orders
            if not (len(SHAPES[shape_name]) == 1 and (axis == -1 or order == "T"))]


def transpose_cases(dtypes, shapes, thread_counts):
    """transpose of the 2-D shapes and PERMUTE_PATTERNS of the 3-D ones (float dtypes); image
    batches (IMAGE_SHAPES) to the other layout, NHWC -> NCHW or NCHW -> NHWC (IMAGE_DTYPES)."""
    cases = []
    for t in thread_counts:
        for shape_name in shapes:
            if shape_name in IMAGE_SHAPES:
                pattern = TO_NCHW if shape_name in NHWC_SHAPES else TO_NHWC
                cases += [Case("transpose", "permute", dtype, shape_name, pattern, "C", t)
                          for dtype in dtypes if dtype in IMAGE_DTYPES]
                continue
            nd = len(SHAPES[shape_name])
            for dtype in dtypes:
                if dtype not in DTYPES:
                    continue
                if nd == 2:
                    cases.append(Case("transpose", "transpose", dtype, shape_name, None, "C", t))
                elif nd == 3:
                    cases += [Case("transpose", "permute", dtype, shape_name, p, "C", t) for p in PERMUTE_PATTERNS]
    return cases


def cast_cases(pairs, shapes, thread_counts, orders=("C", "T")):
    """Each pair on each shape and order; of the image batches, CAST_IMAGE_SHAPES in C order."""
    return [Case("cast", "cast", pair, shape_name, None, order, t)
            for t in thread_counts for shape_name in shapes for pair in pairs for order in orders
            if (shape_name in CAST_IMAGE_SHAPES and order == "C")
            or (shape_name in SHAPES and not (len(SHAPES[shape_name]) == 1 and order == "T"))]


def dot_cases(dtypes, thread_counts):
    cases = []
    for t in thread_counts:
        for dtype in dtypes:
            for b, m, k, n in BATCH_DOT_SHAPES:
                cases.append(Case("dot", "batch_dot", dtype, f"{b}x{m}x{k}x{n}", (2, 1), "C", t))
            cases.append(Case("dot", "batch_dot_keras_doc", dtype, "32x20x1.32x30x20", (1, 2), "C", t))
            for xs, ys in DOT_SHAPES:
                name = f"{'x'.join(map(str, xs))}.{'x'.join(map(str, ys))}"
                cases.append(Case("dot", "dot", dtype, name, None, "C", t))
    return cases


def dot_inputs(case: Case):
    rng = np.random.default_rng(11)
    if case.op == "batch_dot":
        b, m, k, n = map(int, case.shape_name.split("x"))
        return (rng.standard_normal((b, m, k), np.float32).astype(case.dtype),
                rng.standard_normal((b, k, n), np.float32).astype(case.dtype))
    if case.op == "batch_dot_keras_doc":
        return (rng.standard_normal((32, 20, 1), np.float32).astype(case.dtype),
                rng.standard_normal((32, 30, 20), np.float32).astype(case.dtype))
    xs, ys = (tuple(map(int, part.split("x"))) for part in case.shape_name.split("."))
    return (rng.standard_normal(xs, np.float32).astype(case.dtype),
            rng.standard_normal(ys, np.float32).astype(case.dtype))


def dot_fns(case: Case, x, y):
    if case.op == "batch_dot":
        return (lambda: K.batch_dot(x, y, axes=[2, 1])), (lambda: np.matmul(x, y))
    if case.op == "batch_dot_keras_doc":
        return (lambda: K.batch_dot(x, y, axes=[1, 2])), (lambda: np.einsum("bki,bjk->bij", x, y))
    return (lambda: K.dot(x, y)), (lambda: np.dot(x, y))


def check_dot(case: Case, x, y, got) -> None:
    x64, y64 = x.astype(np.float64), y.astype(np.float64)
    if case.op == "batch_dot":
        ref, bound = np.matmul(x64, y64), np.matmul(np.abs(x64), np.abs(y64))
    elif case.op == "batch_dot_keras_doc":
        ref, bound = np.einsum("bki,bjk->bij", x64, y64), np.einsum("bki,bjk->bij", np.abs(x64), np.abs(y64))
    else:
        ref, bound = np.dot(x64, y64), np.dot(np.abs(x64), np.abs(y64))
    tol = {"float16": 2e-3, "float32": 2e-6, "float64": 1e-13}[case.dtype]
    if got.shape != ref.shape or not np.all(np.abs(got.astype(np.float64) - ref) <= tol * bound + 1e-30):
        raise AssertionError(f"{case.name}: result differs from the float64 reference")


_INPUTS: dict = {}
# Inputs up to this size are kept for the next case (the image batches reach 400 MB each).
INPUT_CACHE_BYTES = 64 << 20


def make_input(dtype: str, shape, order: str = "C") -> np.ndarray:
    """Seeded inputs: floats standard normal plus 1 (so var/std see a non-zero mean), integers
    uniform over the dtype's range."""
    key = (dtype, shape)
    x = _INPUTS.get(key)
    if x is None:
        rng = np.random.default_rng(abs(hash(shape)) % (2**32))
        if np.dtype(dtype).kind in "iu":
            info = np.iinfo(dtype)
            x = rng.integers(info.min, info.max, shape, dtype=dtype, endpoint=True)
        else:
            x = (rng.standard_normal(shape, dtype=np.float32) + 1).astype(dtype)
        if x.nbytes <= INPUT_CACHE_BYTES:
            _INPUTS[key] = x
    return x.T if order == "T" else x


def reduction_fns(case: Case, x: np.ndarray):
    kfn, nfn, axis = getattr(K, case.op), getattr(np, case.op), case.axis
    return (lambda: kfn(x, axis=axis)), (lambda: nfn(x, axis=axis))


def case_fns(case: Case, x: np.ndarray):
    """(kcore callable, NumPy callable) computing the same thing."""
    if case.family in ("reduce", "scan"):
        return reduction_fns(case, x)
    if case.family == "transpose":
        if case.axis is None:
            return (lambda: K.transpose(x)), (lambda: np.array(x.T, order="C"))
        pattern = case.axis
        # np.array copies even where the permuted view is already contiguous (one channel), as kcore does.
        return (lambda: K.permute_dimensions(x, pattern)), (lambda: np.array(np.transpose(x, pattern), order="C"))
    dst = case.dtype.split("->")[1]
    return (lambda: K.cast(x, dst)), (lambda: x.astype(dst))


def torch_module():
    """PyTorch when installed (the bench's optional comparison, never a kcore dependency), else None."""
    try:
        import torch
    except ImportError:
        return None
    return torch


def torch_threads(torch, n: int) -> None:
    if torch is not None:
        torch.set_num_threads(n)


def torch_runs(tfn):
    """tfn, or None when PyTorch lacks the op for this dtype (its first call raises)."""
    if tfn is None:
        return None
    try:
        tfn()
    except (RuntimeError, NotImplementedError, TypeError):
        return None
    return tfn


def _torch_reduce(torch, op, t, axis):
    if op in ("max", "min"):  # (dim=() is every dim)
        f = torch.amax if op == "max" else torch.amin
        return lambda: f(t, dim=() if axis is None else axis)
    if op in ("var", "std"):
        f = getattr(torch, op)
        return lambda: f(t, dim=axis, correction=0)
    if op == "prod":  # one dim per call: several dims as a chain, the last first
        if axis is None:
            return lambda: torch.prod(t)
        dims = sorted((axis,) if isinstance(axis, int) else axis, key=lambda d: d % t.ndim, reverse=True)

        def chained():
            r = t
            for d in dims:
                r = torch.prod(r, dim=d)
            return r
        return chained
    f = getattr(torch, op)
    return lambda: f(t, dim=axis)


def torch_case_fn(torch, case: Case, x: np.ndarray, y: np.ndarray | None = None):
    """PyTorch CPU computing the case's result as its users write it (y: a product's second
    operand); None without PyTorch."""
    if torch is None:
        return None
    t = torch.from_numpy(x)
    if case.family == "reduce":
        return _torch_reduce(torch, case.op, t, case.axis)
    if case.family == "scan":
        f, axis = getattr(torch, case.op), case.axis
        return lambda: f(t, dim=axis)
    if case.family == "transpose":
        pattern = tuple(reversed(range(t.ndim))) if case.axis is None else case.axis
        return lambda: t.permute(pattern).clone(memory_format=torch.contiguous_format)  # a copy, as kcore's
    if case.family == "cast":
        dst = getattr(torch, case.dtype.split("->")[1])
        return lambda: t.to(dst)
    if case.family == "dot":
        ty = torch.from_numpy(y)
        if case.op == "batch_dot_keras_doc":
            return lambda: torch.einsum("bki,bjk->bij", t, ty)
        return lambda: torch.matmul(t, ty)
    raise ValueError(f"torch_case_fn: no PyTorch form for family {case.family!r}")


def check_case(case: Case, x: np.ndarray, got) -> None:
    if case.family == "reduce":
        return check_reduction(case, x, got)
    if case.family == "scan":
        axis = case.axis
        ref = getattr(np, case.op)(x.astype(np.float64), axis=axis)
        with np.errstate(all="ignore"):
            ref = ref.astype(case.dtype).astype(np.float64)
            rtol = {"float16": 4e-3, "float32": 1e-5, "float64": 1e-10}[case.dtype]
            scale = np.cumsum(np.abs(x.astype(np.float64)), axis=axis) if case.op == "cumsum" else np.abs(ref)
            close = np.abs(np.asarray(got, np.float64) - ref) <= rtol * scale + rtol
            ok = np.all(close | (np.isnan(ref) & np.isnan(got))
                        | (np.isinf(ref) & (np.asarray(got, np.float64) == ref)))
        if not ok:
            raise AssertionError(f"{case.name}: result differs from the float64 reference")
        return
    _, nfn = case_fns(case, x)
    with np.errstate(all="ignore"):
        expected = nfn()
    if not np.array_equal(got.view(f"u{got.itemsize}"), expected.view(f"u{expected.itemsize}")):
        raise AssertionError(f"{case.name}: result differs from NumPy's")


def bytes_moved(case: Case, x: np.ndarray) -> tuple[int, bool]:
    """(bytes read + written by an ideal kernel, whether it is a read+write case)."""
    if case.family == "reduce":
        return x.nbytes, False
    if case.family == "cast":
        dst = np.dtype(case.dtype.split("->")[1])
        return x.nbytes + x.size * dst.itemsize, True
    return 2 * x.nbytes, True


def check_reduction(case: Case, x: np.ndarray, got) -> None:
    op, axis = case.op, case.axis
    if op in ("argmax", "argmin"):
        expected = getattr(np, op)(x.astype(np.float64), axis=axis)
        if not np.array_equal(got, expected):
            raise AssertionError(f"{case.name}: wrong indices")
        return
    if op in ("any", "all"):
        if not np.array_equal(got, getattr(np, op)(x, axis=axis)):
            raise AssertionError(f"{case.name}: wrong result")
        return
    x64 = x.astype(np.float64)
    with np.errstate(all="ignore"):
        # The exact value rounded once to the dtype (a float16 sum of 262144 ones is inf).
        ref = np.asarray(getattr(np, op)(x64, axis=axis)).astype(case.dtype).astype(np.float64)
        if op == "prod":  # the product of thousands of values is 0/inf/NaN; check magnitudes agree
            ok = np.allclose(np.asarray(got, np.float64), ref, rtol=1e-2, atol=0, equal_nan=True) or \
                np.array_equal(np.isfinite(got), np.isfinite(ref))
        else:
            scale = np.mean(np.abs(x64)) if x.size else 1.0
            rtol = {"float16": 2e-3, "float32": 1e-5, "float64": 1e-10}[case.dtype]
            ok = np.allclose(np.asarray(got, np.float64), ref, rtol=rtol, atol=rtol * scale, equal_nan=True)
    if not ok:
        raise AssertionError(f"{case.name}: result differs from the float64 reference")


def _calibrate(fn: Callable, min_time: float) -> int:
    n = 1
    while True:
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        dt = time.perf_counter() - t0
        if dt >= min_time or n >= 1 << 20:
            return n
        n = max(n * 2, int(n * min_time / max(dt, 1e-9) * 1.2))


def _timed(fn: Callable, n: int) -> float:
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - t0) / n


# NumPy's OpenBLAS keeps its worker threads spinning for ~100 ms after every call (measured:
# ~100 ms of CPU time burnt during a sleep after one np.dot), which takes a core from whatever
# runs next. kcore's workers sleep at once. So for the BLAS-backed cases each kcore batch starts
# after NumPy's workers have settled, and both libraries are timed on otherwise idle cores.
# After the pause the cores have idled, and the first calls run slow (here a 8 ms product takes
# 9-13 ms for its first one or two calls, NumPy's 9.6 ms for its first, both settling within
# ~30 ms), so each batch of several calls starts with one untimed call, and the batches of
# these cases last at least BLAS_MIN_TIME_S. With 10 ms batches and no warm-up call the ratios
# of 1-10 ms products read 3-10% lower than in steady use (interleaved runs of both protocols).
BLAS_SETTLE_S = 0.15
BLAS_MIN_TIME_S = 0.05


@contextlib.contextmanager
def numpy_blas_threads(n: int):
    """NumPy's BLAS limited to n threads (threadpoolctl, when installed), so that a case at n
    threads compares kcore and NumPy on the same cores; kcore's own OpenBLAS, which kcore keeps
    single-threaded and threads itself, is left alone. Yields whether the limit is in force."""
    try:
        import threadpoolctl
    except ImportError:
        yield False
        return
    ours = _core.blas_path()
    libs = [lib for lib in threadpoolctl.ThreadpoolController().lib_controllers
            if lib.user_api == "blas" and (ours is None or not os.path.samefile(lib.filepath, ours))]
    before = [lib.num_threads for lib in libs]
    for lib in libs:
        lib.set_num_threads(n)
    try:
        yield bool(libs)
    finally:
        for lib, k in zip(libs, before, strict=True):
            lib.set_num_threads(k)


def interleaved(fns: Sequence[Callable | None], rounds: int, min_time: float, settle: float = 0.0):
    """(times, ratios): the median time per call of each callable and the median over rounds of
    its time / the first one's, timed in interleaved rounds after one untimed call each; a None
    entry (a library not run) gets None and NaN. `settle`: seconds to wait before each batch but
    the one right after the first callable's (kcore's workers sleep at once; see BLAS_SETTLE_S),
    and then each batch of several calls starts with an untimed call."""
    live = [f for f in fns if f is not None]
    for f in live:
        f()
    counts = [_calibrate(f, min_time) for f in live]
    times: list[list[float]] = [[] for _ in live]
    for _ in range(rounds):
        for i, f in enumerate(live):
            if settle and i != 1:
                time.sleep(settle)
            if settle and counts[i] > 1:
                f()
            times[i].append(_timed(f, counts[i]))
    medians = iter([statistics.median(t) for t in times])
    ratios = iter([statistics.median(b / a for a, b in zip(times[0], t, strict=True)) for t in times])
    out_t: list[float | None] = []
    out_r: list[float] = []
    for fn in fns:
        out_t.append(None if fn is None else next(medians))
        out_r.append(float("nan") if fn is None else next(ratios))
    return out_t, out_r


def side_by_side(kfn: Callable, nfn: Callable, rounds: int, min_time: float, settle: float = 0.0):
    """Median kcore time, median numpy time, median of per-round ratios (numpy/kcore)."""
    (tk, tn), (_, ratio) = interleaved([kfn, nfn], rounds, min_time, settle)
    return tk, tn, ratio


def measure_bandwidth(threads: int, rounds: int = 7) -> tuple[float, float]:
    """(read GB/s, copy read+write GB/s) on a 256 MiB buffer."""
    before = kcore.get_num_threads()
    kcore.set_num_threads(threads)
    try:
        a = np.ones(1 << 25, np.uint64)
        b = np.empty_like(a)
        _core.stream_read(a)
        _core.stream_copy(b, a)
        read = min(_timed(lambda: _core.stream_read(a), 1) for _ in range(rounds))
        # The faster of kcore's streaming copy and NumPy's (memcpy): the best copy on this machine.
        copy = min(min(_timed(lambda: _core.stream_copy(b, a), 1), _timed(lambda: np.copyto(b, a), 1))
                   for _ in range(rounds))
    finally:
        kcore.set_num_threads(before)
    return a.nbytes / read / 1e9, 2 * a.nbytes / copy / 1e9


def cache_bytes() -> int | None:
    """The last-level cache one core sees, as the kernels read it (Linux sysfs), or None."""
    return _core.tuning()["cache_bytes"] or None


@dataclasses.dataclass
class Result:
    case: Case
    t_kcore: float
    t_numpy: float
    speedup: float  # NumPy's time / kcore's
    gbps: float
    bw_fraction: float  # of the read bandwidth (reductions) or the copy bandwidth (the rest); NaN for products
    t_torch: float | None = None
    torch_speedup: float = math.nan  # PyTorch's time / kcore's (NaN without PyTorch)
    in_cache: bool = False  # the bytes it moves fit in the last-level cache


def run_cases(cases, rounds, min_time, bandwidth, progress=None, torch=None, cache=None):
    """The cases' results, each passed to `progress` as soon as it is measured; `torch`: the
    PyTorch module to time beside NumPy (None: NumPy only); `cache`: the last-level cache's bytes."""
    # NumPy's float16 reductions overflow and warn on this data; the warnings are NumPy's, not
    # results, and would only clutter the table.
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return _run_cases(cases, rounds, min_time, bandwidth, progress, torch, cache)


def _run_cases(cases, rounds, min_time, bandwidth, progress, torch, cache):
    results = []
    default_threads = kcore.get_num_threads()
    torch_before = torch.get_num_threads() if torch is not None else 0
    try:
        for case in cases:
            kcore.set_num_threads(case.threads)
            torch_threads(torch, case.threads)
            if case.family == "dot":
                x, y = dot_inputs(case)
                kfn, nfn = dot_fns(case, x, y)
                check_dot(case, x, y, kfn())
                tfn = torch_runs(torch_case_fn(torch, case, x, y))
                with numpy_blas_threads(case.threads):
                    (tk, tn, tt), (_, rn, rt) = interleaved([kfn, nfn, tfn], rounds, max(min_time, BLAS_MIN_TIME_S),
                                                            settle=BLAS_SETTLE_S)
                moved, share, in_cache = x.nbytes + y.nbytes, math.nan, False
            else:
                x = make_input(case.src_dtype, case.shape, case.order)
                kfn, nfn = case_fns(case, x)
                check_case(case, x, kfn())
                tfn = torch_runs(torch_case_fn(torch, case, x))
                (tk, tn, tt), (_, rn, rt) = interleaved([kfn, nfn, tfn], rounds, min_time)
                assert tk is not None
                moved, read_write = bytes_moved(case, x)
                share = moved / tk / 1e9 / bandwidth[case.threads][1 if read_write else 0]
                in_cache = cache is not None and moved <= cache
            assert tk is not None and tn is not None
            results.append(Result(case, tk, tn, rn, moved / tk / 1e9, share, tt, rt, in_cache))
            if progress:
                progress(results[-1])
    finally:
        kcore.set_num_threads(default_threads)
        torch_threads(torch, torch_before)
    return results


def geomean(values):
    values = list(values)
    return math.exp(sum(math.log(v) for v in values) / len(values)) if values else float("nan")


def _fmt_time(t: float | None) -> str:
    if t is None:
        return "-"
    return f"{t * 1e6:.1f}us" if t < 1e-3 else f"{t * 1e3:.2f}ms" if t < 1 else f"{t:.2f}s"


def _fmt_ratio(r: float) -> str:
    return "-" if math.isnan(r) else f"{r:.2f}x"


CASE_WIDTH = 48


def format_header(with_torch: bool) -> str:
    torch_t, torch_r = (f" {'torch':>9}", f" {'vs torch':>8}") if with_torch else ("", "")
    return (f"{'family':<11} {'case':<{CASE_WIDTH}} {'kcore':>9} {'numpy':>9}{torch_t} {'vs numpy':>8}{torch_r} "
            f"{'GB/s':>7} {'%bw':>5}")


def format_row(r, with_torch: bool) -> str:
    """One table row: a Result, or a bench_nn NNResult (no GB/s or %bw: shown as -)."""
    gbps, share = getattr(r, "gbps", math.nan), getattr(r, "bw_fraction", math.nan)
    torch_t = f" {_fmt_time(r.t_torch):>9}" if with_torch else ""
    torch_r = f" {_fmt_ratio(r.torch_speedup):>8}" if with_torch else ""
    gb = "-" if math.isnan(share) else f"{gbps:.1f}"
    bw = "-" if math.isnan(share) else f"{100 * share:.0f}%"
    mark = " c" if getattr(r, "in_cache", False) else ""
    return (f"{r.case.family:<11} {r.case.name:<{CASE_WIDTH}} {_fmt_time(r.t_kcore):>9} {_fmt_time(r.t_numpy):>9}"
            f"{torch_t} {_fmt_ratio(r.speedup):>8}{torch_r} {gb:>7} {bw:>5}{mark}")


def legend(with_torch: bool, cache: int | None, with_conv: bool = False) -> str:
    """What each column of the table says."""
    libs = "numpy/torch" if with_torch else "numpy"
    where = f"the last-level cache ({cache >> 20} MiB here)" if cache else "the last-level cache (size not reported)"
    return "\n".join([
        "columns:",
        f"  kcore, {libs.replace('/', ', ')}: median time per call; vs {libs.replace('/', ', vs ')}: median over the "
        "rounds of that library's time / kcore's (above 1.00x kcore is faster)",
        "  GB/s: the bytes an ideal kernel reads and writes, over kcore's time (- for products, convolutions and "
        "elementwise ops)",
        "  %bw: GB/s as a share of the memory bandwidth measured above at the case's thread count on a 256 MiB "
        "buffer (streaming reads for reductions, the best read+write copy for the rest)",
        f"  c: the case's bytes fit in {where}: repeated calls find them there, so GB/s is a cache speed and "
        "%bw can pass 100%"]
        + (["  conv's numpy column: kcore's NumPy backend (float16 only; nearest upsampling: np.repeat)"]
           if with_conv else []))


def bandwidth_lines(bandwidth) -> list[str]:
    return [f"memory bandwidth, {t} thread(s): read {rd:.1f} GB/s, copy (read+write) {cp:.1f} GB/s"
            for t, (rd, cp) in sorted(bandwidth.items())]


def speedup_lines(results) -> list[str]:
    """Per thread count, each family's (and, for several, all cases') geometric-mean speedup and
    worst case against NumPy and against PyTorch."""
    lines = []
    by_threads: dict = {}
    for r in results:
        by_threads.setdefault(r.case.threads, {}).setdefault(r.case.family, []).append(r)
    for t, fams in sorted(by_threads.items()):
        lines.append(f"speedups at {t} thread(s): geometric mean, worst case")
        groups = [(f, fams[f]) for f in FAMILIES if f in fams]
        if len(groups) > 1:
            groups.append(("all", [r for _, rs in groups for r in rs]))
        for name, rs in groups:
            parts = []
            for label, key in (("NumPy", "speedup"), ("PyTorch", "torch_speedup")):
                vals = [r for r in rs if not math.isnan(getattr(r, key))]
                if vals:
                    w = min(vals, key=operator.attrgetter(key))
                    g = geomean(getattr(r, key) for r in vals)
                    parts.append(f"vs {label} {g:.2f}x, worst {getattr(w, key):.2f}x ({w.case.name})")
            lines.append(f"  {name:<11} {len(rs):>4} cases: " + ("; ".join(parts) or "-"))
    return lines


def summary(results, bandwidth, targets=None) -> tuple[str, list[str]]:
    """The summary's text and the targets missed at the default thread count (their lines)."""
    lines = bandwidth_lines(bandwidth) + speedup_lines(results)
    missed: list[str] = []
    if targets is None:
        return "\n".join(lines), missed
    # The targets are stated at the default thread count; other counts are shown for information.
    default = kcore.get_num_threads()
    by_threads: dict = {}
    for r in results:
        by_threads.setdefault(r.case.threads, []).append(r)
    for t, rs in sorted(by_threads.items(), key=lambda kv: (kv[0] != default, kv[0])):
        lines.append(f"targets at {t} thread(s){' (the default)' if t == default else ' (information)'}:")
        for desc, got, want, ok in targets(rs):
            line = f"{desc}: {got} (target {want})"
            lines.append(f"  [{'ok' if ok else 'MISSED'}] {line}")
            if t == default and not ok:
                missed.append(line)
    return "\n".join(lines), missed


def load_targets(path: str):
    """The `targets(results)` function of a targets file (the project's are bench/targets.py):
    it returns (description, measured, target, met) for each target it checks."""
    spec = importlib.util.spec_from_file_location("kcore_bench_targets", path)
    if spec is None or spec.loader is None or not os.path.isfile(path):
        raise SystemExit(f"--targets: cannot load targets from {path!r}")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.targets


def _parse_list(text, allowed, what):
    items = [s.strip() for s in text.split(",") if s.strip()]
    bad = [s for s in items if s not in allowed]
    if bad:
        raise SystemExit(f"unknown {what}: {', '.join(bad)}; choose from {', '.join(allowed)}")
    return items


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m kcore.bench", description=__doc__.splitlines()[0])
    p.add_argument("--full", action="store_true",
                   help="the whole matrix (every op, shape, axis, order, dtype pair, image layout, 1 and all threads)")
    p.add_argument("--families", default=None, help=f"comma-separated: {', '.join(FAMILIES)} (default: all)")
    p.add_argument("--ops", help="comma-separated ops")
    p.add_argument("--dtypes", help=f"comma-separated dtypes: {', '.join(DTYPES + INT_DTYPES)} (integers: the "
                                    "sources of casts and image permutes)")
    p.add_argument("--shapes", help=f"comma-separated shapes: {', '.join(SHAPES)}, and the image batches "
                                    f"{', '.join(IMAGE_SHAPES)} (permutes to the other layout, casts)")
    p.add_argument("--threads", help="comma-separated thread counts, or 'all' (default: 1,all with --full, else all)")
    p.add_argument("--orders", default="C,T", help="C, T (transposed view) or both")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--min-time", type=float, default=0.01, help="seconds per timed batch")
    p.add_argument("--json", help="also write the results to this file")
    p.add_argument("--targets", help="a targets file (e.g. bench/targets.py): each target with its measured figure")
    p.add_argument("--check", action="store_true",
                   help="with --targets: exit with status 1, naming them, when targets are missed at the default "
                        "thread count")
    p.add_argument("--torch", action="store_true",
                   help="also time PyTorch CPU beside NumPy on every family (PyTorch must be installed)")
    p.add_argument("--keras", action="store_true",
                   help="time Keras model.predict (MobileNet, ResNet50; batch 1 and 32) on kcore and on tf_keras "
                        "when installed, instead of the kernel families")
    p.add_argument("--dask", action="store_true",
                   help="time kcore.dask against NumPy on Dask (sum, var, cast, transpose of a chunked float16 and "
                        "float32 array; 1 and all threads unless --threads) instead of the kernel families "
                        "(needs kcore[dask])")
    p.add_argument("--tf-python", metavar="PYTHON",
                   help="with --keras: the interpreter that has tensorflow-cpu and tf-keras (a venv of their own: "
                        "TensorFlow pins NumPy and h5py versions of its own)")
    p.add_argument("--chart", help="write a PNG of speedups per family here (needs matplotlib)")
    return p


def thread_counts_of(args) -> list[int]:
    all_threads = kcore.get_num_threads()
    thread_spec = args.threads or ("1,all" if args.full else "all")
    return sorted({all_threads if s.strip() == "all" else int(s) for s in thread_spec.split(",")})


def select_cases(args, thread_counts):
    """(core cases, bench_nn cases) that the arguments select."""
    from kcore import bench_nn

    default_families = FAMILIES if args.full else tuple(f for f in FAMILIES if f != "conv")
    families = _parse_list(args.families, FAMILIES, "families") if args.families else default_families
    ops = _parse_list(args.ops, REDUCE_OPS + SCAN_OPS, "ops") if args.ops else None
    dtypes = _parse_list(args.dtypes, DTYPES + INT_DTYPES, "dtypes") if args.dtypes else DTYPES + INT_DTYPES
    floats = [d for d in dtypes if d in DTYPES]
    if args.shapes:
        chosen = _parse_list(args.shapes, tuple(SHAPES) + tuple(IMAGE_SHAPES), "shapes")
        shapes = [s for s in chosen if s in SHAPES]
        images = [s for s in chosen if s in IMAGE_SHAPES]
    else:
        shapes = list(SHAPES) if args.full else list(QUICK_SHAPES)
        images = list(IMAGE_SHAPES) if args.full else list(QUICK_IMAGE_SHAPES)
    orders = _parse_list(args.orders, ("C", "T"), "orders")
    cases = []
    if "reduce" in families:
        red_ops = [o for o in ops if o in REDUCE_OPS] if ops else (REDUCE_OPS if args.full else QUICK_OPS)
        cases += reduction_cases(red_ops, floats, shapes, thread_counts, orders)
    if "scan" in families:
        scan_ops = [o for o in ops if o in SCAN_OPS] if ops else (SCAN_OPS if args.full else ("cumsum",))
        cases += scan_cases(scan_ops, floats, shapes, thread_counts, orders)
    if "transpose" in families:
        cases += transpose_cases(dtypes, shapes + images, thread_counts)
    if "cast" in families:
        def chosen_pairs(pairs):
            return [p for p in pairs if p.split("->")[0] in dtypes and p.split("->")[1] in dtypes]

        # The image batches take the integer pairs (preprocessing's casts; the quick run has a few).
        cases += cast_cases(chosen_pairs(CAST_PAIRS + INT_CAST_PAIRS if args.full else CAST_PAIRS), shapes,
                            thread_counts, orders)
        cases += cast_cases(chosen_pairs(INT_CAST_PAIRS if args.full else QUICK_INT_CAST_PAIRS), images,
                            thread_counts, orders)
    if "dot" in families:
        cases += dot_cases(floats, thread_counts)
    nn_cases = []
    if "elementwise" in families:
        nn_cases += bench_nn.elementwise_cases([d for d in floats if d in bench_nn.EW_DTYPES], thread_counts)
    if "conv" in families:
        nn_cases += bench_nn.conv_cases(thread_counts)
    return cases, nn_cases


def _json_row(r) -> dict:
    row = {"case": r.case.name if isinstance(r, Result) else f"{r.case.family}:{r.case.name}",
           "kcore_s": r.t_kcore, "numpy_s": r.t_numpy, "torch_s": r.t_torch,
           "speedup": r.speedup, "torch_speedup": r.torch_speedup}
    if isinstance(r, Result):
        row.update(gbps=r.gbps, bw_fraction=r.bw_fraction, in_cache=r.in_cache)
    return row


def main(argv=None) -> int:
    p = build_parser()
    args = p.parse_args(argv)
    from kcore import bench_nn

    if args.tf_python is not None and not (os.path.isfile(args.tf_python) and os.access(args.tf_python, os.X_OK)):
        raise SystemExit(f"--tf-python: {args.tf_python!r} is not an executable file")
    if args.keras:
        print(f"Keras predict, 224x224 inputs, random weights; kcore {kcore.__version__} "
              f"({kcore.get_num_threads()} threads), median of 3", flush=True)
        print(bench_nn.format_keras(bench_nn.run_keras(tf_python=args.tf_python)))
        return 0
    if args.dask:
        return _main_dask(args)
    if args.check and not args.targets:
        p.error("--check needs --targets (e.g. --targets bench/targets.py)")
    torch = torch_module() if args.torch else None
    if args.torch and torch is None:
        raise SystemExit("--torch: PyTorch is not installed (pip install torch)")
    targets = load_targets(args.targets) if args.targets else None
    thread_counts = thread_counts_of(args)
    cases, nn_cases = select_cases(args, thread_counts)

    started = time.perf_counter()
    versus = f"NumPy {np.__version__}" + (f" and PyTorch {torch.__version__}" if torch is not None else "")
    print(f"kcore {kcore.__version__} (cpu level {_core.cpu_level()}, {kcore.get_num_threads()} threads) vs "
          f"{versus} on {platform.machine()}, Python {platform.python_version()}", flush=True)
    print(f"measuring the memory bandwidth at {', '.join(map(str, thread_counts))} thread(s)...", flush=True)
    bandwidth = {t: measure_bandwidth(t) for t in thread_counts}
    print("\n".join(bandwidth_lines(bandwidth)), flush=True)
    total = len(cases) + len(nn_cases)
    print(f"{total} cases, {args.rounds} interleaved rounds each; each row is printed as its case finishes", flush=True)
    if "dot" in {c.family for c in cases}:
        with numpy_blas_threads(1) as limited:
            print("NumPy's BLAS runs on each case's thread count" if limited else
                  "NumPy's BLAS runs on its own thread count (install threadpoolctl to match each case's)", flush=True)
    cache = cache_bytes()
    print(legend(torch is not None, cache, any(c.family == "conv" for c in nn_cases)))
    width = len(str(total))
    print(f"{'':>{2 * width + 1}} {format_header(torch is not None)}", flush=True)
    done = [0]

    def show(r):
        done[0] += 1
        print(f"{done[0]:>{width}}/{total} {format_row(r, torch is not None)}", flush=True)

    results = run_cases(cases, args.rounds, args.min_time, bandwidth, show, torch, cache)
    nn_results = bench_nn.run_nn_cases(nn_cases, args.rounds, args.min_time, torch, show)
    text, missed = summary(results + nn_results, bandwidth, targets)
    print(text)
    print(f"{total} cases in {time.perf_counter() - started:.0f} s")
    if args.chart:
        print(bench_nn.write_chart(results + nn_results, args.chart))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"bandwidth": bandwidth, "cache_bytes": cache,
                       "results": [_json_row(r) for r in results + nn_results]}, f, indent=1)
    if missed and args.check:
        print(f"--check: {len(missed)} target(s) missed at the default thread count:", file=sys.stderr)
        for line in missed:
            print(f"  {line}", file=sys.stderr)
        return 1
    if missed:
        print(f"{len(missed)} target(s) missed at the default thread count (with --check, the exit status is 1)")
    return 0


def _main_dask(args) -> int:
    if importlib.util.find_spec("dask") is None or importlib.util.find_spec("threadpoolctl") is None:
        raise SystemExit("--dask: needs dask[array] and threadpoolctl (pip install 'kcore[dask]')")
    from kcore import bench_dask

    all_threads = kcore.get_num_threads()
    spec = (args.threads or "1,all").split(",")
    thread_counts = sorted({all_threads if s.strip() == "all" else int(s) for s in spec})
    print(bench_dask.header(thread_counts), flush=True)
    results = bench_dask.run_dask(thread_counts, args.rounds,
                                  lambda r: print(bench_dask.format_row(r), flush=True))
    missed = [r for r in results if r.speedup < r.target]
    print(f"{len(results) - len(missed)} of {len(results)} cases meet their target")
    return 0


if __name__ == "__main__":
    sys.exit(main())
