"""kcore on `dask.array`: the same functions, argument names and semantics as `kcore.backend`, on
chunked arrays larger than one machine's memory (`pip install 'kcore[dask]'`).

    import dask.array as da
    import kcore.dask as kd
    x = da.from_zarr("stack.zarr")            # e.g. a (100000, 512, 512) float16 image stack
    mean_image = kd.mean(x, axis=0)           # a dask array; .compute() on any scheduler
    std = kd.std(kd.cast(x, "float32"), axis=(1, 2))

Every function takes dask arrays (NumPy arrays and nested lists are wrapped, as dask.array's own
functions do) and returns a lazy dask array. Each block runs on kcore's kernels.

What is chunk-local and what merges across chunks
- Chunk-local, with any input chunks: `cast`, `transpose`/`permute_dimensions`, the elementwise
  ops and activations, `batch_normalization` and `bias_add` (statistics given), and `softmax` (its
  axis is first gathered into one chunk). Each output element is computed from its own inputs, so
  the result does not depend on the chunks.
- Reductions (sum, prod, mean, var, std, max, min, any, all, argmax, argmin), `l2_normalize`'s
  sum of squares and the scans (cumsum, cumprod) merge partial results across chunks. Floating
  merges round differently when the blocks change, so these first rechunk the input to kcore's
  canonical grid (`canonical_chunks`: a function of the shape and dtype only, C-order slabs of
  at most 2**24 elements; free when the input already has it) and merge the blocks' partial
  states in a fixed pairwise order (`split_every` blocks per merge, 8 by default, as
  dask.array.reduction). Results are therefore bitwise identical for every input chunking,
  scheduler (synchronous, threads, processes, distributed) and thread count.

Partial states and the rounding of the result (x of dtype T, r the exact value):
- sum, mean: each block's sum by kcore, kept in float64 as kcore accumulated it (float16 blocks
  widened to float32 in cache-sized pieces first; float32 blocks as they are, kcore's float32 sum,
  whose error grows like pairwise summation's, so no partial sum overflows), merged in float64 and
  rounded once to T: |result - r| <= ulp(r) + 2**-18 * sum|x| (float16, as kcore's in-memory
  bound), (ceil(log2 n) + 1) * 2**-24 * sum|x| (float32: SPEC.md's rule, at least as accurate as
  NumPy's pairwise summation) or 2**-40 * sum|x| (float64), for n the elements per output.
- prod: block products of float64 pieces, merged in float64, rounded once (8 ulps, as kcore's).
- var, std: each block's (count, mean, M2) in float64 (kcore's float64 mean and variance of
  cache-sized float64 pieces), merged with Chan's pairwise update, so data with a large mean keep
  their accuracy; var = M2/n and std = sqrt(M2/n) rounded once to T (as kcore's in-memory bound).
- max, min, any, all, argmax, argmin: exact. argmax/argmin keep the first index of the extreme,
  skip NaN and give 0 for an all-NaN line, as kcore's in-memory functions.
- cumsum, cumprod: as kcore's own scan engine does with its segments, the blocks along the axis
  are scanned from exact carries: pass 1 takes each block's total in float64, a sequential
  float64 scan of the totals gives each block's starting value, and pass 2 scans each block from
  it in float64 (kcore's kernels), rounding each output once to T. An axis that fits one block is
  scanned by kcore's in-memory kernel (bit for bit). Integer scans wrap as NumPy's, exactly.

Threads: inside a Dask task each kcore call uses max(1, N // W) threads, where N is
kcore.get_num_threads() in the process running the task and W the tasks that process may run at
once: a distributed worker's nthreads; for the local threaded and processes schedulers, dask's
`num_workers` setting (which sizes their pools; a num_workers= argument to compute() is not
visible to tasks), else the CPU count; 1 for the synchronous scheduler. It is set as an OpenMP
limit on the task's thread for the task's duration, which kcore honours below the process's
initial OpenMP thread count (SPEC.md "Threads and processes"); `with_thread_budget` does the same
for your own block functions. distributed's nanny starts workers with OMP_NUM_THREADS=1, so there
N is 1 unless you raise it. A process forked after kcore ran keeps working (serially, kcore's
rule for forked children) and computes the same bits.
"""
from __future__ import annotations

import builtins
import contextlib
import functools
import math
import numbers
import os
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

import dask
import dask.array as da
import numpy as np
from dask.base import tokenize

from kcore import _validate as V
from kcore import backend as K
from kcore._kernels import ReduceKind
from kcore._runtime import _core

__all__ = [
    "abs", "all", "any", "argmax", "argmin", "batch_normalization", "bias_add", "canonical_chunks", "cast",
    "clip", "cos", "cumprod", "cumsum", "elu", "equal", "exp", "greater", "greater_equal", "hard_sigmoid",
    "l2_normalize", "less", "less_equal", "log", "max", "maximum", "mean", "min", "minimum", "not_equal",
    "permute_dimensions", "pow", "prod", "relu", "round", "sigmoid", "sign", "sin", "softmax", "softplus",
    "softsign", "sqrt", "square", "std", "sum", "tanh", "thread_budget", "transpose", "var", "with_thread_budget",
]

# The canonical block: C-order slabs of at most this many elements (32 MiB of float16).
BLOCK_ELEMENTS = 1 << 24
# Partial states of float blocks are computed on pieces of about this many elements, which stay
# in the L2 cache while they are widened and reduced.
PIECE_ELEMENTS = 1 << 16
SPLIT_EVERY = 8
_FLOATS = "efd"


def _name(fn: str) -> str:
    return f"kcore.dask.{fn}"


# ---------------------------------------------------------------------------------------------
# Threads: each task's kcore calls get the worker's share of the process's threads.

_omp_controllers: dict[int, list] = {}


def _openmp_libraries() -> list:
    """The OpenMP runtimes loaded in this process (threadpoolctl's controllers), found once per
    process (a forked child looks again: its own pid)."""
    pid = os.getpid()
    if pid not in _omp_controllers:
        import threadpoolctl

        _omp_controllers[pid] = threadpoolctl.ThreadpoolController().select(user_api="openmp").lib_controllers
    return _omp_controllers[pid]


def _tasks_at_once() -> int:
    """W: how many tasks the process running this one may run at the same time."""
    if "distributed" in sys.modules:
        from distributed import get_worker

        try:
            worker = get_worker()
        except ValueError:  # not inside a distributed worker
            pass
        else:
            return builtins.max(1, int(worker.state.nthreads))
    import multiprocessing

    in_pool = threading.current_thread() is not threading.main_thread() or multiprocessing.parent_process() is not None
    if not in_pool:
        return 1  # the synchronous scheduler: one task at a time, in the caller's thread
    from dask.system import CPU_COUNT

    return builtins.max(1, int(dask.config.get("num_workers", None) or CPU_COUNT))


def thread_budget() -> int:
    """The threads each kcore call uses inside the Dask task calling this (see the module
    docstring): max(1, kcore.get_num_threads() // tasks the process runs at once)."""
    return builtins.max(1, _core.get_num_threads() // _tasks_at_once())


@contextlib.contextmanager
def _task_threads() -> Iterator[None]:
    """Limits kcore's OpenMP threads on the calling thread to thread_budget() for one task, and
    restores the thread's own limit afterwards (the synchronous scheduler runs tasks in the
    user's thread)."""
    n = thread_budget()
    libs = _openmp_libraries() if n < _core.get_num_threads() else []
    before = [lib.num_threads for lib in libs]
    for lib in libs:
        lib.set_num_threads(n)
    try:
        yield
    finally:
        for lib, b in zip(libs, before, strict=True):
            lib.set_num_threads(b)


def with_thread_budget(f: Callable) -> Callable:
    """f run under the task's thread budget (thread_budget()): for your own block functions that
    call kcore (e.g. `x.map_blocks(kcore.dask.with_thread_budget(my_preprocessing))`)."""
    @functools.wraps(f)
    def run(*args, **kwargs):
        with _task_threads():
            return f(*args, **kwargs)

    return run


# ---------------------------------------------------------------------------------------------
# Inputs and the canonical grid


def _as_dask(x, fn: str) -> da.Array:
    """x as a dask array of a numeric dtype with known chunks; NumPy arrays, numbers and nested
    lists are wrapped (converted as kcore converts them) in blocks of the canonical grid."""
    name = _name(fn)
    if isinstance(x, da.Array):
        V.check_numeric(np.empty(0, x.dtype), name)
        if builtins.any(math.isnan(c) for cs in x.chunks for c in cs):
            raise ValueError(f"{name}: the input's chunk sizes are unknown; call compute_chunk_sizes() first")
        return x
    if dask.is_dask_collection(x):
        raise TypeError(f"{name}: expected a dask array (or a NumPy array, a number or a nested list of numbers), "
                        f"got {type(x).__name__}")
    a = V.tensor(x, name)
    return da.from_array(a, chunks=canonical_chunks(a.shape, a.dtype))


def canonical_chunks(shape: tuple[int, ...], dtype: Any = None) -> tuple[tuple[int, ...], ...]:
    """kcore's canonical block grid for an array of `shape`: C-order slabs of at most
    BLOCK_ELEMENTS elements (trailing axes whole while they fit, the next one split, leading
    axes in blocks of 1). Reductions and scans rechunk to it, so that their arithmetic depends on
    the shape alone (`dtype` is accepted for dask.array's chunk helpers' signature)."""
    shape = tuple(int(n) for n in shape)
    chunk = [1] * len(shape)
    inner = 1
    for ax in range(len(shape) - 1, -1, -1):
        n = shape[ax]
        if n == 0 or inner * n <= BLOCK_ELEMENTS:
            chunk[ax] = builtins.max(n, 1) if n else 0
            inner *= builtins.max(n, 1)
            continue
        chunk[ax] = builtins.max(1, BLOCK_ELEMENTS // inner)
        break
    return tuple(_split(n, c) for n, c in zip(shape, chunk, strict=True))


def _split(n: int, c: int) -> tuple[int, ...]:
    if n == 0:
        return (0,)
    return (c,) * (n // c) + ((n % c,) if n % c else ())


def _canonical(x: da.Array) -> da.Array:
    chunks = canonical_chunks(x.shape, x.dtype)
    return x if x.chunks == chunks else x.rechunk(chunks)


def _pieces(block: np.ndarray, axes: tuple[int, ...], piece: int) -> tuple[list[np.ndarray], int | None]:
    """A C-contiguous block cut into pieces of about `piece` elements, and the axis cut: the
    outermost kept axis (the pieces' states then sit side by side), else axis 0 when few outputs
    make merging the pieces cheap (a full reduction); (block, None) when neither fits."""
    if block.size <= piece or block.ndim == 0:
        return [block], None
    kept = [i for i in range(block.ndim) if i not in axes and block.shape[i] > 1]
    if kept:
        cut = kept[0]
        slab = block.size // block.shape[cut]  # elements per unit of the cut axis
        if slab > 4 * piece:
            return [block], None
    else:
        cut = 0
        slab = block.size // block.shape[0]
    step = builtins.max(1, piece // builtins.max(slab, 1))
    if step >= block.shape[cut]:
        return [block], None
    index = [slice(None)] * block.ndim
    out = []
    for i in range(0, block.shape[cut], step):
        index[cut] = slice(i, i + step)
        out.append(block[tuple(index)])
    return out, cut


# ---------------------------------------------------------------------------------------------
# Reductions: partial states per block, merged pairwise in a fixed order. A state is a tuple of
# arrays of the keepdims shape: (sum,), (product,), (max,), ..., (value, index) for argmax/argmin,
# and (count, mean, M2) for var/std, the count a float64 scalar (every output of a block, or of a
# group of blocks, has the same). Merges write into arrays made by earlier merges only.


def _merge_var(a: tuple, b: tuple, owned: bool) -> tuple:
    """Chan et al.'s pairwise update of (count, mean, M2); b follows a. Blocks are never empty
    unless the whole axis is (then the result is NaN whatever the state)."""
    na, ma, m2a = a
    nb, mb, m2b = b
    n = na + nb
    wb = nb / n
    delta = mb - ma
    m2 = np.add(m2a, m2b, out=m2a if owned else None)
    m2 += delta * delta * (na * wb)
    delta *= wb
    mean = np.add(ma, delta, out=ma if owned else None)
    return n, mean, m2


def _merge_arg(kind: str) -> Callable:
    better = np.greater if kind == "argmax" else np.less

    def merge(a, b, owned):
        # b (later indices) wins only when strictly better, or when a has no candidate (NaN).
        (va, ia), (vb, ib) = a, b
        take_b = better(vb, va)
        if va.dtype.kind == "f":
            take_b |= np.isnan(va) & ~np.isnan(vb)
        return np.where(take_b, vb, va), np.where(take_b, ib, ia)

    return merge


def _merge_one(f: Callable) -> Callable:
    return lambda a, b, owned: (f(a[0], b[0], out=a[0] if owned else None),)


_MERGES: dict[str, Callable] = {
    "sum": _merge_one(np.add), "mean": _merge_one(np.add), "prod": _merge_one(np.multiply),
    "max": _merge_one(np.maximum), "min": _merge_one(np.minimum), "any": _merge_one(np.logical_or),
    "all": _merge_one(np.logical_and), "var": _merge_var, "std": _merge_var,
    "argmax": _merge_arg("argmax"), "argmin": _merge_arg("argmin"),
}


def _tree(states: list[tuple], kind: str) -> tuple:
    """The states merged pairwise, neighbours first, in order (as kcore's reduction engine
    combines its leaves): the order depends on the count alone."""
    merge = _MERGES[kind]
    owned = False
    with np.errstate(all="ignore"):  # (inf * 0 and inf - inf give NaN, as in kcore)
        while len(states) > 1:
            merged = [merge(states[i], states[i + 1], owned) for i in range(0, len(states) - 1, 2)]
            if len(states) % 2:
                if not owned:  # (the odd one out is an input: later merges write into it)
                    merged.append(tuple(np.array(p, copy=True) for p in states[-1]))
                else:
                    merged.append(states[-1])
            states, owned = merged, True
    return states[0]


def _widened_pieces(block: np.ndarray, axes: tuple[int, ...], piece: int, state: Callable, kind: str,
                    wide: str = "float64") -> tuple:
    """state(piece widened to `wide`) over cache-sized pieces of the block (whole when it needs
    no widening), side by side along a kept axis or merged in order along axis 0."""
    pieces, cut = _pieces(block, axes, piece) if block.dtype != np.dtype(wide) else ([block], None)
    states = [state(_core.cast(p, wide) if p.dtype != np.dtype(wide) else p) for p in pieces]
    if cut is None:
        return states[0]
    if cut not in axes:
        return tuple(np.concatenate(f, axis=cut) if np.ndim(f[0]) else f[0] for f in zip(*states, strict=True))
    return _tree(states, kind)


@with_thread_budget
def _block_state(block: np.ndarray, kind: str, axes: tuple[int, ...], piece: int, block_info=None) -> tuple:
    """One block's partial state (keepdims over `axes`), from pieces of about `piece` elements
    (a graph argument: the arithmetic is fixed when the graph is built)."""
    block = np.ascontiguousarray(block)
    floats = block.dtype.char in _FLOATS

    def native(k, a, dtype=None, wide=False):
        return np.asarray(_core.reduce(ReduceKind.__members__[k], a, axes, True, wide), dtype=dtype)

    if kind in ("sum", "mean", "prod"):
        reduce_kind = "prod" if kind == "prod" else "sum"
        if not floats:
            return (np.asarray(getattr(K, reduce_kind)(block, axes, True)),)
        # float16 sums widen to float32 (kcore sums those in float64); products always to float64.
        wide = "float32" if block.dtype == np.float16 and kind != "prod" else "float64" if kind == "prod" else \
            block.dtype.name
        # Sums are kept as kcore accumulated them (float64), never rounded to float32: a block's
        # float32 sum may overflow where the mean, or the whole sum, does not.
        return _widened_pieces(block, axes, piece, lambda p: (native(reduce_kind, p, np.float64, kind != "prod"),),
                               kind, wide)
    if kind in ("var", "std"):
        def moments(p):
            mean = native("mean", p)
            n = np.float64(p.size // builtins.max(mean.size, 1) if mean.size else 0)
            return n, mean, native("var", p) * n

        return _widened_pieces(block, axes, piece, moments, kind)
    if kind in ("argmax", "argmin"):
        (axis,) = axes
        local = np.expand_dims(np.asarray(getattr(K, kind)(block, axis)), axis)
        value = np.take_along_axis(block, local, axis) if block.shape[axis] else np.zeros(local.shape, block.dtype)
        start = block_info[0]["array-location"][axis][0] if block_info else 0
        return value, local + start
    return (np.asarray(getattr(K, kind)(block, axes, True)),)


def _keepdims(shape: tuple[int, ...], axes: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(1 if i in axes else n for i, n in enumerate(shape))


def _flat(nested) -> list[tuple]:
    """The states of a group of neighbouring blocks (dask's nested lists, one level per reduced
    axis), in C order of the blocks' positions."""
    if isinstance(nested, tuple):
        return [nested]
    return [s for item in nested for s in _flat(item)]


def _combine(states, axis=None, keepdims: bool = True, *, kind: str) -> tuple:
    """A group of neighbouring blocks' states merged into one."""
    return _tree(_flat(states), kind)


def _finish(states, axis: tuple[int, ...], keepdims: bool = False, *, kind: str, out_dtype: np.dtype,
            count: int) -> np.ndarray:
    """The last merge, then the result from the state, rounded once to the result's dtype."""
    s = _combine(states, kind=kind)
    with np.errstate(all="ignore"):
        if kind in ("var", "std"):
            n, _, m2 = s
            v = m2 / n if count else np.full(m2.shape, np.nan)
            out = np.sqrt(v) if kind == "std" else v
        elif kind == "mean":
            out = s[0] / count if count else np.full(s[0].shape, np.nan)
        elif kind in ("argmax", "argmin"):
            value, index = s
            out = np.where(np.isnan(value), 0, index) if value.dtype.kind == "f" else index
        else:
            out = s[0]
        out = np.asarray(out).astype(out_dtype)
    return out if keepdims else out.reshape(tuple(n for i, n in enumerate(out.shape) if i not in axis))


def _reduction(kind: str, x, axis, keepdims, split_every) -> da.Array:
    fn = _name(kind)
    x = _as_dask(x, kind)
    arg = kind in ("argmax", "argmin")
    if arg:
        axes: tuple[int, ...] = (_core.arg_axis(axis, x.shape, fn),)
        keep = False
    else:
        norm = _core.normalize_axes(axis, x.ndim, fn)
        axes = tuple(range(x.ndim)) if norm is None else tuple(norm)
        keep = V.flag(keepdims, fn, "keepdims")
    meta = getattr(K, kind)(np.zeros((1,) * x.ndim, x.dtype), *((axes[0],) if arg else (axes, keep)))
    dtype = np.asarray(meta).dtype
    if x.dtype.kind in "iub" and kind in ("mean", "var", "std"):
        raise TypeError(f"{fn}: needs float16, float32 or float64 input on Dask, got {x.dtype} "
                        f"(kcore.dask.cast it first)")
    if x.dtype == np.bool_ and kind in ("sum", "prod"):
        raise TypeError(f"{fn}: needs a numeric input other than bool on Dask (kcore.dask.cast it first)")
    split_every = SPLIT_EVERY if split_every is None else V.count(split_every, fn, "split_every", low=2)
    x = _canonical(x)
    count = int(np.prod([x.shape[a] for a in axes], dtype=np.int64))
    state_chunks = tuple((1,) * len(c) if i in axes else c for i, c in enumerate(x.chunks))
    # The states are tuples of arrays (dask's own var passes dicts the same way): their dtype and
    # meta here only fill dask's bookkeeping.
    states = x.map_blocks(_block_state, kind, axes, PIECE_ELEMENTS, dtype=np.float64, chunks=state_chunks,
                          meta=np.empty((0,) * x.ndim, np.float64), token=f"kcore-{kind}-state")
    return da.reduction(states, chunk=_identity, combine=functools.partial(_combine, kind=kind),
                        aggregate=functools.partial(_finish, kind=kind, out_dtype=dtype, count=count),
                        axis=axes, keepdims=keep, dtype=np.float64, split_every=split_every, concatenate=False,
                        meta=np.empty((0,) * (x.ndim if keep else x.ndim - len(axes)), dtype),
                        name=f"kcore-{kind}")


def _identity(states: tuple, axis=None, keepdims=True) -> tuple:
    return states  # (each block's state is already reduced over the axes)


def _named(f: Callable, name: str, doc: str) -> Callable:
    """f as the public function `name` of this module, documented by `doc`."""
    f.__name__ = f.__qualname__ = name
    f.__doc__ = doc
    return f


def _value_reduction(kind: str, doc: str) -> Callable:
    def reduction(x, axis=None, keepdims=False, split_every=None):
        return _reduction(kind, x, axis, keepdims, split_every)

    return _named(reduction, kind, doc)


def _index_reduction(kind: str, doc: str) -> Callable:
    def reduction(x, axis=-1, split_every=None):
        return _reduction(kind, x, axis, False, split_every)

    return _named(reduction, kind, doc)


sum = _value_reduction("sum", "Sum over axis (None: all axes) of a dask array; see the module docstring.")
prod = _value_reduction("prod", "Product over axis of a dask array (float64 partial products).")
mean = _value_reduction("mean", "Mean over axis of a dask array (floats).")
var = _value_reduction("var", "Population variance (ddof=0) over axis, merged with Chan's update.")
std = _value_reduction("std", "Population standard deviation (ddof=0) over axis.")
max = _value_reduction("max", "Maximum over axis; NaN propagates; exact.")
min = _value_reduction("min", "Minimum over axis; NaN propagates; exact.")
any = _value_reduction("any", "Logical OR over axis (bool result).")
all = _value_reduction("all", "Logical AND over axis (bool result).")
argmax = _index_reduction("argmax", "Index of the first maximum along axis (default -1; NaN skipped; int64).")
argmin = _index_reduction("argmin", "Index of the first minimum along axis (default -1; NaN skipped; int64).")


# ---------------------------------------------------------------------------------------------
# Scans: block totals, a sequential scan of them, then each block from its exact start.


@with_thread_budget
def _scan_block(block: np.ndarray, kind: str, axis: int) -> np.ndarray:
    return np.asarray(getattr(K, kind)(np.ascontiguousarray(block), axis))


@with_thread_budget
def _scan_total(block: np.ndarray, kind: str, axis: int) -> np.ndarray:
    block = np.ascontiguousarray(block)
    reduce_kind = ReduceKind.sum if kind == "cumsum" else ReduceKind.prod
    if block.dtype.char in _FLOATS:
        return np.asarray(_core.reduce(reduce_kind, _core.cast(block, "float64"), (axis,), True))
    f = np.sum if kind == "cumsum" else np.prod
    return f(block, axis=axis, keepdims=True, dtype=block.dtype)


def _exclusive_scan(totals: np.ndarray, kind: str, axis: int) -> np.ndarray:
    """Each block's starting value: the running sum (product) of the earlier blocks' totals,
    sequential along the axis."""
    unit = 0 if kind == "cumsum" else 1
    f = np.cumsum if kind == "cumsum" else np.cumprod
    with np.errstate(all="ignore"):
        running = f(totals, axis=axis, dtype=totals.dtype)
    first = np.full_like(np.take(totals, [0], axis=axis), unit)
    return np.concatenate([first, np.take(running, range(totals.shape[axis] - 1), axis=axis)], axis=axis)


@with_thread_budget
def _scan_from(block: np.ndarray, start: np.ndarray, kind: str, axis: int) -> np.ndarray:
    block = np.ascontiguousarray(block)
    add = kind == "cumsum"
    if block.dtype.char not in _FLOATS:
        f = np.cumsum if add else np.cumprod
        with np.errstate(all="ignore"):
            local = f(block, axis=axis, dtype=block.dtype)
            return local + start if add else local * start
    wide = np.array(_core.cast(block, "float64"), copy=block.dtype == np.float64)
    first = [slice(None)] * block.ndim
    first[axis] = slice(0, 1)
    with np.errstate(all="ignore"):  # the carry enters as the scan's own first step would
        wide[tuple(first)] = wide[tuple(first)] + start if add else wide[tuple(first)] * start
    out = _core.scan(_core.ScanKind.sum if add else _core.ScanKind.prod, wide, axis)
    return out if block.dtype == np.float64 else _core.cast(out, block.dtype.name)


def _scan(kind: str, x, axis) -> da.Array:
    fn = _name(kind)
    x = _as_dask(x, kind)
    ax = _core.scan_axis(axis, x.ndim, fn)
    if x.dtype == np.bool_:
        raise TypeError(f"{fn}: needs a numeric input other than bool on Dask (kcore.dask.cast it first)")
    x = _canonical(x)
    if x.numblocks[ax] == 1:
        return x.map_blocks(_scan_block, kind, ax, dtype=x.dtype, token=f"kcore-{kind}")
    total_dtype = np.float64 if x.dtype.char in _FLOATS else x.dtype
    total_chunks = tuple((1,) * len(c) if i == ax else c for i, c in enumerate(x.chunks))
    totals = x.map_blocks(_scan_total, kind, ax, dtype=total_dtype, chunks=total_chunks,
                          token=f"kcore-{kind}-total")
    starts = totals.rechunk({ax: -1}).map_blocks(_exclusive_scan, kind, ax, dtype=total_dtype,
                                                 token=f"kcore-{kind}-start").rechunk(total_chunks)
    return da.map_blocks(_scan_from, x, starts, kind, ax, dtype=x.dtype, chunks=x.chunks, token=f"kcore-{kind}")


def cumsum(x, axis=0):
    """Cumulative sum along axis (default 0), dtype kept; carried across blocks exactly."""
    return _scan("cumsum", x, axis)


def cumprod(x, axis=0):
    """Cumulative product along axis (default 0), dtype kept; carried across blocks exactly."""
    return _scan("cumprod", x, axis)


# ---------------------------------------------------------------------------------------------
# Chunk-local ops


@with_thread_budget
def _apply(block: np.ndarray, fn: str, *args, **kwargs) -> np.ndarray:
    return np.asarray(getattr(K, fn)(block, *args, **kwargs))


@with_thread_budget
def _apply2(a, b, fn: str) -> np.ndarray:
    return np.asarray(getattr(K, fn)(a, b))


def _result_dtype(fn: str, *probes, **kwargs) -> np.dtype:
    """The dtype kcore's in-memory function gives (its argument errors raise here, naming it)."""
    return np.asarray(getattr(K, fn)(*probes, **kwargs)).dtype


def _probe(v) -> Any:
    """A one-element stand-in of an operand, for _result_dtype."""
    if isinstance(v, da.Array):
        return np.zeros((1,) * v.ndim, v.dtype)
    return v


def cast(x, dtype):
    """x converted to dtype block by block (kcore's cast: round to nearest even, NaN, -0.0,
    subnormals and overflow as NumPy's astype)."""
    x = _as_dask(x, "cast")
    name = V.dtype_name(dtype, _name("cast"))
    out = _result_dtype("cast", np.zeros(1, x.dtype), name)
    return x.map_blocks(_apply, "cast", name, dtype=out, token="kcore-cast")


def permute_dimensions(x, pattern):
    """Axes permuted by pattern; each block is a C-contiguous copy made by kcore's transpose."""
    x = _as_dask(x, "permute_dimensions")
    perm = _core.permutation(pattern, x.shape)
    out_ind = tuple(perm)
    return da.blockwise(_apply, out_ind, x, tuple(range(x.ndim)), "permute_dimensions", None, perm, None,
                        dtype=x.dtype, token="kcore-permute")


def transpose(x):
    """All axes reversed (kcore's transpose on each block)."""
    x = _as_dask(x, "transpose")
    return permute_dimensions(x, tuple(range(x.ndim))[::-1])


def _unary(fn: str, doc: str, params: tuple[tuple[str, Any], ...] = ()) -> Callable:
    def op(x, *args, **kwargs):
        x = _as_dask(x, fn)
        bound = dict(params)
        names = [p for p, _ in params]
        if len(args) > len(names):
            raise TypeError(f"{_name(fn)}: takes at most {len(names) + 1} positional arguments, got {len(args) + 1}")
        for k in kwargs:
            if k not in bound:
                raise TypeError(f"{_name(fn)}: unexpected keyword argument {k!r}")
        bound.update(zip(names, args, strict=False))
        bound.update(kwargs)
        dtype = _result_dtype(fn, np.zeros((1,) * x.ndim, x.dtype), **bound)
        return x.map_blocks(_apply, fn, dtype=dtype, token=f"kcore-{fn}", **bound)

    return _named(op, fn, doc)


exp = _unary("exp", "exp(x) on each block.")
log = _unary("log", "log(x) on each block.")
square = _unary("square", "x * x on each block.")
abs = _unary("abs", "|x| on each block.")
sqrt = _unary("sqrt", "Square root (negative inputs give 0, as Keras on TensorFlow) on each block.")
round = _unary("round", "Round half to even on each block.")
sign = _unary("sign", "Sign on each block.")
sin = _unary("sin", "sin(x) on each block.")
cos = _unary("cos", "cos(x) on each block.")
sigmoid = _unary("sigmoid", "The logistic sigmoid on each block.")
tanh = _unary("tanh", "tanh(x) on each block.")
softplus = _unary("softplus", "log(1 + exp(x)) on each block.")
softsign = _unary("softsign", "x / (1 + |x|) on each block.")
hard_sigmoid = _unary("hard_sigmoid", "clip(0.2 x + 0.5, 0, 1) on each block.")
elu = _unary("elu", "Keras's elu on each block.", (("alpha", 1.0),))
relu = _unary("relu", "Keras's relu on each block.", (("alpha", 0.0), ("max_value", None), ("threshold", 0.0)))
clip = _unary("clip", "x within [min_value, max_value] (numbers) on each block.",
              (("min_value", None), ("max_value", None)))
pow = _unary("pow", "x ** a (a number) on each block.", (("a", 1),))


def _binary(fn: str, doc: str) -> Callable:
    def op(x, y):
        operands = []
        for v in (x, y):
            if isinstance(v, (numbers.Real, np.bool_)):
                operands.append(v)
            else:
                operands.append(_as_dask(v, fn))
        if not builtins.any(isinstance(v, da.Array) for v in operands):
            operands[0] = _as_dask(operands[0], fn)
        dtype = _result_dtype(fn, *map(_probe, operands))
        return da.core.elemwise(_apply2, *operands, fn, dtype=dtype, name=f"kcore-{fn}-{tokenize(fn, *operands)}")

    return _named(op, fn, doc)


maximum = _binary("maximum", "Elementwise maximum (NaN propagates), broadcast as NumPy.")
minimum = _binary("minimum", "Elementwise minimum (NaN propagates), broadcast as NumPy.")
equal = _binary("equal", "Elementwise x == y (bool).")
not_equal = _binary("not_equal", "Elementwise x != y (bool).")
greater = _binary("greater", "Elementwise x > y (bool).")
greater_equal = _binary("greater_equal", "Elementwise x >= y (bool).")
less = _binary("less", "Elementwise x < y (bool).")
less_equal = _binary("less_equal", "Elementwise x <= y (bool).")


def softmax(x, axis=-1):
    """Softmax along axis (default -1): the axis is gathered into one chunk, then kcore's softmax
    runs on each block."""
    x = _as_dask(x, "softmax")
    _result_dtype("softmax", np.zeros((2,) * x.ndim, x.dtype), axis)  # kcore's checks, naming softmax
    ax = _core.single_axis(-1 if axis is None else axis, x.ndim, _name("softmax"))
    if x.numblocks[ax] > 1:
        x = x.rechunk({ax: -1})
    dtype = _result_dtype("softmax", np.zeros((2,) * x.ndim, x.dtype), ax)
    return x.map_blocks(_apply, "softmax", ax, dtype=dtype, token="kcore-softmax")


@with_thread_budget
def _l2_scale(block: np.ndarray, ss: np.ndarray) -> np.ndarray:
    with np.errstate(all="ignore"):
        return (block / np.sqrt(np.maximum(ss, block.dtype.type(1e-12)))).astype(block.dtype)


def l2_normalize(x, axis=None):
    """x / sqrt(max(sum(x**2, axis), 1e-12)), as Keras; the sum of squares is kcore.dask.sum's
    (canonical grid, chunk-independent)."""
    x = _as_dask(x, "l2_normalize")
    _core.normalize_axes(axis, x.ndim, _name("l2_normalize"))
    if x.dtype.kind != "f":
        x = cast(x, V.floatx())
    ss = sum(square(x), axis, True)
    return da.core.elemwise(_l2_scale, x, ss, dtype=x.dtype, name=f"kcore-l2-normalize-{tokenize(x, ss)}")


@with_thread_budget
def _along(block: np.ndarray, *stats, along: int, fn: str, block_info=None, **kwargs) -> np.ndarray:
    """fn(block, *stats) with each 1-D statistic cut to the block's range along `along`."""
    lo, hi = block_info[0]["array-location"][along] if block_info else (0, block.shape[along])
    parts = [None if s is None else (s[lo:hi] if s.ndim == 1 else s) for s in stats]
    return np.asarray(getattr(K, fn)(block, *parts, **kwargs))


def _channel_stat(v, fn: str, what: str) -> np.ndarray | None:
    if v is None:
        return None
    if isinstance(v, da.Array):
        v = v.compute()  # per-channel statistics: small
    return V.tensor(v, _name(fn), what)


def _probe_along(x: da.Array, axis: int) -> np.ndarray:
    """A probe of x's rank and dtype, one element thick except along axis."""
    return np.zeros(tuple(n if i == axis else 1 for i, n in enumerate(x.shape)), x.dtype)


def batch_normalization(x, mean, var, beta, gamma, axis=-1, epsilon=1e-3):
    """(x - mean) / sqrt(var + epsilon) * gamma + beta on each block, the 1-D statistics laid
    along axis (NumPy or small dask arrays; beta and gamma may be None)."""
    fn = "batch_normalization"
    x = _as_dask(x, fn)
    stats = [_channel_stat(v, fn, w) for v, w in ((mean, "mean"), (var, "var"), (beta, "beta"), (gamma, "gamma"))]
    rank = builtins.max(x.ndim, 1)
    if isinstance(axis, (bool, np.bool_)) or not isinstance(axis, numbers.Integral):
        raise TypeError(f"{_name(fn)}: axis must be an int, got {axis!r}")
    if not -rank <= axis < rank:
        raise ValueError(f"{_name(fn)}: axis {axis!r} is out of range for x of rank {x.ndim}")
    ax = int(axis) % rank
    dtype = _result_dtype(fn, _probe_along(x, ax), *stats, axis=ax, epsilon=epsilon)
    return x.map_blocks(_along, *stats, along=ax, fn=fn, axis=ax, epsilon=epsilon, dtype=dtype,
                        token="kcore-batchnorm")


def bias_add(x, bias, data_format=None):
    """x + bias along the channels (data_format as Keras) on each block."""
    fn = "bias_add"
    x = _as_dask(x, fn)
    b = _channel_stat(bias, fn, "bias")
    fmt = V.choice(K.image_data_format() if data_format is None else data_format, _name(fn), "data_format",
                   ("channels_first", "channels_last"))
    ax = 1 if fmt == "channels_first" and x.ndim > 2 else x.ndim - 1
    if b is not None and b.ndim == 1:
        dtype = _result_dtype(fn, _probe_along(x, ax), b, data_format)
        return x.map_blocks(_along, b, along=ax, fn=fn, data_format=data_format, dtype=dtype, token="kcore-bias-add")
    x = x.rechunk(dict.fromkeys(range(1, x.ndim), -1))  # a bias of x's rank - 1 covers every axis but the first
    dtype = _result_dtype(fn, np.zeros((1,) + x.shape[1:], x.dtype), b, data_format)
    return x.map_blocks(_apply, fn, b, data_format, dtype=dtype, token="kcore-bias-add")
