"""Side-by-side benchmark of kcore against NumPy (and PyTorch): `python -m kcore.bench [--full]`.

Each case runs kcore and NumPy on the same seeded input in interleaved rounds; the reported
speedup is the median of the per-round ratios (numpy time / kcore time), which is robust on a
shared, noisy machine. Every case first checks kcore's result against a float64 reference.
The memory bandwidth the machine can stream is measured at the same thread count (reads with
kcore's probe kernel; copies with the faster of kcore's streaming copy and NumPy's), so large
cases can be reported as a fraction of it. The inference families (elementwise ops and
activations, convolutions) and `--keras` (Keras models' predict) live in kcore/bench_nn.py.
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import importlib.util
import json
import math
import os
import platform
import statistics
import sys
import time
import warnings
from collections.abc import Callable
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
        return SHAPES.get(self.shape_name, ())

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
    cases = []
    for t in thread_counts:
        for shape_name in shapes:
            nd = len(SHAPES[shape_name])
            for dtype in dtypes:
                if nd == 2:
                    cases.append(Case("transpose", "transpose", dtype, shape_name, None, "C", t))
                elif nd == 3:
                    cases += [Case("transpose", "permute", dtype, shape_name, p, "C", t) for p in PERMUTE_PATTERNS]
    return cases


def cast_cases(pairs, shapes, thread_counts, orders=("C", "T")):
    return [Case("cast", "cast", pair, shape_name, None, order, t)
            for t in thread_counts for shape_name in shapes for pair in pairs for order in orders
            if not (len(SHAPES[shape_name]) == 1 and order == "T")]


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


def make_input(dtype: str, shape, order: str = "C") -> np.ndarray:
    """Seeded, cached inputs: standard normal plus 1 (so var/std see a non-zero mean)."""
    key = (dtype, shape)
    if key not in _INPUTS:
        rng = np.random.default_rng(abs(hash(shape)) % (2**32))
        _INPUTS[key] = (rng.standard_normal(shape, dtype=np.float32) + 1).astype(dtype)
    x = _INPUTS[key]
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
            return (lambda: K.transpose(x)), (lambda: np.ascontiguousarray(x.T))
        pattern = case.axis
        return (lambda: K.permute_dimensions(x, pattern)), (lambda: np.ascontiguousarray(np.transpose(x, pattern)))
    dst = case.dtype.split("->")[1]
    return (lambda: K.cast(x, dst)), (lambda: x.astype(dst))


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


def side_by_side(kfn: Callable, nfn: Callable, rounds: int, min_time: float, settle: float = 0.0):
    """Median kcore time, median numpy time, median of per-round ratios (numpy/kcore).
    `settle`: seconds to wait before each kcore batch; then each batch of several calls starts
    with an untimed call (see BLAS_SETTLE_S)."""
    kfn(), nfn()
    nk, nn = _calibrate(kfn, min_time), _calibrate(nfn, min_time)
    tk, tn, ratios = [], [], []
    for _ in range(rounds):
        if settle:
            time.sleep(settle)
            if nk > 1:
                kfn()
        a = _timed(kfn, nk)
        if settle and nn > 1:
            nfn()
        b = _timed(nfn, nn)
        tk.append(a)
        tn.append(b)
        ratios.append(b / a)
    return statistics.median(tk), statistics.median(tn), statistics.median(ratios)


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


@dataclasses.dataclass
class Result:
    case: Case
    t_kcore: float
    t_numpy: float
    speedup: float
    gbps: float
    bw_fraction: float  # of the read bandwidth (reductions) or the copy bandwidth (the rest)


def run_cases(cases, rounds, min_time, bandwidth, progress=None):
    # NumPy's float16 reductions overflow and warn on this data; the warnings are NumPy's, not
    # results, and would only clutter the table.
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return _run_cases(cases, rounds, min_time, bandwidth, progress)


def _run_cases(cases, rounds, min_time, bandwidth, progress=None):
    results = []
    default_threads = kcore.get_num_threads()
    try:
        for i, case in enumerate(cases):
            kcore.set_num_threads(case.threads)
            if case.family == "dot":
                x, y = dot_inputs(case)
                kfn, nfn = dot_fns(case, x, y)
                check_dot(case, x, y, kfn())
                with numpy_blas_threads(case.threads):
                    tk, tn, ratio = side_by_side(kfn, nfn, rounds, max(min_time, BLAS_MIN_TIME_S),
                                                 settle=BLAS_SETTLE_S)
                results.append(Result(case, tk, tn, ratio, (x.nbytes + y.nbytes) / tk / 1e9, 0.0))
                if progress:
                    progress(i + 1, len(cases), results[-1])
                continue
            x = make_input(case.src_dtype, case.shape, case.order)
            kfn, nfn = case_fns(case, x)
            check_case(case, x, kfn())
            tk, tn, ratio = side_by_side(kfn, nfn, rounds, min_time)
            moved, read_write = bytes_moved(case, x)
            gbps = moved / tk / 1e9
            results.append(Result(case, tk, tn, ratio, gbps, gbps / bandwidth[case.threads][1 if read_write else 0]))
            if progress:
                progress(i + 1, len(cases), results[-1])
    finally:
        kcore.set_num_threads(default_threads)
    return results


def geomean(values):
    values = list(values)
    return math.exp(sum(math.log(v) for v in values) / len(values)) if values else float("nan")


def format_table(results) -> str:
    lines = [f"{'case':<48} {'kcore':>10} {'numpy':>10} {'speedup':>8} {'GB/s':>7} {'%bw':>5}",
             "(%bw: of the measured read bandwidth for reductions, of the copy bandwidth otherwise)"]
    for r in results:
        lines.append(f"{r.case.name:<48} {r.t_kcore * 1e6:>8.1f}us {r.t_numpy * 1e6:>8.1f}us "
                     f"{r.speedup:>7.2f}x {r.gbps:>7.1f} {100 * r.bw_fraction:>4.0f}%")
    return "\n".join(lines)


def summary(results, bandwidth, targets=None, nn_results=()) -> tuple[str, int]:
    """The summary's text and the number of targets missed."""
    lines = []
    missed = 0
    for t, (rd, cp) in sorted(bandwidth.items()):
        lines.append(f"measured bandwidth, {t} thread(s): read {rd:.1f} GB/s, copy (read+write) {cp:.1f} GB/s")
    by_threads: dict = {}
    for r in results:
        by_threads.setdefault(r.case.threads, []).append(r)
    for t, rs in sorted(by_threads.items()):
        w = min(rs, key=lambda r: r.speedup)
        lines.append(f"{t} thread(s): {len(rs)} cases, geomean {geomean(r.speedup for r in rs):.2f}x, "
                     f"worst {w.speedup:.2f}x ({w.case.name})")
    if targets is None:
        return "\n".join(lines), 0
    # The targets are stated at the default thread count; other counts are shown for information.
    default = kcore.get_num_threads()
    for r in nn_results:
        by_threads.setdefault(r.case.threads, []).append(r)
    for t, rs in sorted(by_threads.items(), key=lambda kv: (kv[0] != default, kv[0])):
        lines.append(f"targets at {t} thread(s){' (the default)' if t == default else ' (information)'}:")
        for desc, got, want, ok in targets(rs):
            lines.append(f"  [{'ok' if ok else 'MISSED'}] {desc}: {got} (target {want})")
            missed += t == default and not ok
    return "\n".join(lines), missed


def load_targets(path: str):
    """The `targets(results)` function of a targets file (the project's are bench/targets.py):
    it returns (description, measured, target, met) for each target it checks."""
    spec = importlib.util.spec_from_file_location("kcore_bench_targets", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot load targets from {path!r}")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.targets


def _parse_list(text, allowed, what):
    items = [s.strip() for s in text.split(",") if s.strip()]
    bad = [s for s in items if s not in allowed]
    if bad:
        raise SystemExit(f"unknown {what}: {', '.join(bad)}; choose from {', '.join(allowed)}")
    return items


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m kcore.bench", description=__doc__.splitlines()[0])
    p.add_argument("--full", action="store_true",
                   help="the whole matrix (every op, shape, axis, order, 1 and all threads)")
    p.add_argument("--families", default=None, help=f"comma-separated: {', '.join(FAMILIES)} (default: all)")
    p.add_argument("--ops", help="comma-separated ops")
    p.add_argument("--dtypes", help="comma-separated dtypes")
    p.add_argument("--shapes", help=f"comma-separated shapes: {', '.join(SHAPES)}")
    p.add_argument("--threads", help="comma-separated thread counts, or 'all' (default: 1,all with --full, else all)")
    p.add_argument("--orders", default="C,T", help="C, T (transposed view) or both")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--min-time", type=float, default=0.01, help="seconds per timed batch")
    p.add_argument("--json", help="also write the results to this file")
    p.add_argument("--targets", help="a targets file (e.g. bench/targets.py): each target with its measured figure")
    p.add_argument("--check", action="store_true", help="exit with status 1 when a target is missed")
    p.add_argument("--torch", action="store_true",
                   help="also time PyTorch CPU on the elementwise and conv families (PyTorch must be installed)")
    p.add_argument("--keras", action="store_true",
                   help="time Keras model.predict (MobileNet, ResNet50; batch 1 and 32) on kcore and on tf_keras "
                        "when installed, instead of the kernel families")
    p.add_argument("--tf-python", metavar="PYTHON",
                   help="with --keras: the interpreter that has tensorflow-cpu and tf-keras (a venv of their own: "
                        "TensorFlow pins NumPy and h5py versions of its own)")
    p.add_argument("--chart", help="write a PNG of speedups per family here (needs matplotlib)")
    args = p.parse_args(argv)
    from kcore import bench_nn

    if args.tf_python is not None and not (os.path.isfile(args.tf_python) and os.access(args.tf_python, os.X_OK)):
        raise SystemExit(f"--tf-python: {args.tf_python!r} is not an executable file")
    if args.keras:
        print(f"Keras predict, 224x224 inputs, random weights; kcore {kcore.__version__} "
              f"({kcore.get_num_threads()} threads), median of 3", flush=True)
        print(bench_nn.format_keras(bench_nn.run_keras(tf_python=args.tf_python)))
        return 0
    if args.torch and bench_nn.torch_module() is None:
        raise SystemExit("--torch: PyTorch is not installed (pip install torch)")

    default_families = FAMILIES if args.full else tuple(f for f in FAMILIES if f != "conv")
    families = _parse_list(args.families, FAMILIES, "families") if args.families else default_families
    ops = _parse_list(args.ops, REDUCE_OPS + SCAN_OPS, "ops") if args.ops else None
    dtypes = _parse_list(args.dtypes, DTYPES, "dtypes") if args.dtypes else DTYPES
    shapes = _parse_list(args.shapes, tuple(SHAPES), "shapes") if args.shapes else (
        tuple(SHAPES) if args.full else QUICK_SHAPES)
    orders = _parse_list(args.orders, ("C", "T"), "orders")
    all_threads = kcore.get_num_threads()
    thread_spec = args.threads or ("1,all" if args.full else "all")
    thread_counts = sorted({all_threads if s.strip() == "all" else int(s) for s in thread_spec.split(",")})

    print(f"kcore {kcore.__version__} (cpu level {_core.cpu_level()}, {all_threads} threads) vs "
          f"NumPy {np.__version__} on {platform.machine()}, Python {platform.python_version()}", flush=True)
    bandwidth = {t: measure_bandwidth(t) for t in thread_counts}
    cases = []
    if "reduce" in families:
        red_ops = [o for o in ops if o in REDUCE_OPS] if ops else (REDUCE_OPS if args.full else QUICK_OPS)
        cases += reduction_cases(red_ops, dtypes, shapes, thread_counts, orders)
    if "scan" in families:
        scan_ops = [o for o in ops if o in SCAN_OPS] if ops else (SCAN_OPS if args.full else ("cumsum",))
        cases += scan_cases(scan_ops, dtypes, shapes, thread_counts, orders)
    if "transpose" in families:
        cases += transpose_cases(dtypes, shapes, thread_counts)
    if "cast" in families:
        pairs = [p for p in CAST_PAIRS if p.split("->")[0] in dtypes and p.split("->")[1] in dtypes]
        cases += cast_cases(pairs, shapes, thread_counts, orders)
    if "dot" in families:
        cases += dot_cases(dtypes, thread_counts)
    nn_cases = []
    if "elementwise" in families:
        nn_cases += bench_nn.elementwise_cases([d for d in dtypes if d in bench_nn.EW_DTYPES], thread_counts)
    if "conv" in families:
        nn_cases += bench_nn.conv_cases(thread_counts)
    print(f"{len(cases) + len(nn_cases)} cases, {args.rounds} interleaved rounds each", flush=True)
    if "dot" in families:
        with numpy_blas_threads(1) as limited:
            print("NumPy's BLAS runs on each case's thread count" if limited else
                  "NumPy's BLAS runs on its own thread count (install threadpoolctl to match each case's)", flush=True)

    def progress(i, n, r):
        print(f"[{i:>4}/{n}] {r.case.name:<48} {r.speedup:7.2f}x", file=sys.stderr, flush=True)

    results = run_cases(cases, args.rounds, args.min_time, bandwidth,
                        progress if os.environ.get("KCORE_BENCH_PROGRESS") else None)
    if results:
        print(format_table(results))
    nn_results = bench_nn.run_nn_cases(nn_cases, args.rounds, args.min_time, args.torch)
    if nn_results:
        print(bench_nn.format_nn_table(nn_results))
        print(bench_nn.nn_summary(nn_results))
    text, missed = summary(results, bandwidth, load_targets(args.targets) if args.targets else None, nn_results)
    print(text)
    if args.chart:
        print(bench_nn.write_chart(nn_results, results, args.chart))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"bandwidth": bandwidth,
                       "results": [{"case": r.case.name, "kcore_s": r.t_kcore, "numpy_s": r.t_numpy,
                                    "speedup": r.speedup, "gbps": r.gbps, "bw_fraction": r.bw_fraction}
                                   for r in results]
                       + [{"case": f"{r.case.family}:{r.case.name}", "kcore_s": r.t_kcore, "numpy_s": r.t_numpy,
                           "torch_s": r.t_torch, "speedup": r.speedup, "torch_speedup": r.torch_speedup}
                          for r in nn_results]}, f, indent=1)
    if args.check and missed:
        print(f"{missed} target(s) missed", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
