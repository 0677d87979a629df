"""`python -m kcore.bench --dask`: kcore on Dask (kcore.dask) against NumPy on Dask, on the same
chunked array and the same threaded scheduler.

The input is an in-memory (32, 2048, 2048) array (256 MiB of float16, 512 MiB of float32: several
times the last-level cache and larger than dask's default chunk) in kcore's canonical blocks.
Cases: sum and var over every axis, the mean image's companion var over axis 0, a cast to the
other float type and a transpose of the two image axes; casts and transposes are persisted (each
block computed and kept, not gathered into one array), and NumPy's transpose is made contiguous
as kcore's is. One more row shows what the rechunk to the canonical grid costs when the input
has dask's own "auto" chunks. Each thread count t runs the threaded scheduler with t workers.
Times are medians of interleaved rounds; the speedup is the median of per-round ratios.
"""
from __future__ import annotations

import dataclasses
import os
import platform
from collections.abc import Callable

import numpy as np

import kcore
from kcore import backend as K

SHAPE = (32, 2048, 2048)
TARGETS = {"float16": 3.0, "float32": 1.5}


@dataclasses.dataclass
class DaskResult:
    case: str
    dtype: str
    threads: int
    t_kcore: float
    t_numpy: float
    speedup: float

    @property
    def target(self) -> float:
        return TARGETS[self.dtype]


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _cases(x: np.ndarray) -> list[tuple[str, Callable, Callable, Callable]]:
    """(name, kcore+Dask thunk, NumPy+Dask thunk, check of kcore's result)."""
    import dask
    import dask.array as da

    import kcore.dask as kd

    d = da.from_array(x, chunks=kd.canonical_chunks(x.shape, x.dtype))
    auto = da.from_array(x, chunks="auto")
    other = "float32" if x.dtype == np.float16 else "float16"

    def close(kind, axis, rel):
        def check(v):
            x64 = x.astype(np.float64)
            spread = np.sum(np.abs(x64), axis=axis) * 2.0**-22 if kind == "sum" else 0.0
            exact = getattr(np, kind)(x64, axis=axis)
            np.testing.assert_allclose(np.asarray(v, np.float64), exact, rtol=rel, atol=spread)

        return check

    def same(expected):
        def check(v):
            np.testing.assert_array_equal(v.compute(), expected())

        return check

    def persisted(y):
        return lambda: dask.persist(y)[0]

    rel = 2e-3 if x.dtype == np.float16 else 2e-6
    return [
        ("sum", lambda: kd.sum(d).compute(), lambda: d.sum().compute(), close("sum", None, rel)),
        ("var", lambda: kd.var(d).compute(), lambda: d.var().compute(), close("var", None, rel)),
        ("var axis=0", lambda: kd.var(d, 0).compute(), lambda: d.var(axis=0).compute(), close("var", 0, rel)),
        (f"cast ->{other}", persisted(kd.cast(d, other)), persisted(d.astype(other)),
         same(lambda: K.cast(x, other))),
        ("transpose 0,2,1", persisted(kd.permute_dimensions(d, (0, 2, 1))),
         persisted(d.transpose(0, 2, 1).map_blocks(np.ascontiguousarray)),
         same(lambda: np.transpose(x, (0, 2, 1)))),
        ("sum, auto chunks (+rechunk)", lambda: kd.sum(auto).compute(), lambda: auto.sum().compute(),
         close("sum", None, rel)),
    ]


def run_dask(thread_counts: list[int], rounds: int, progress=None) -> list[DaskResult]:
    import dask
    import numpy as _np

    from kcore.bench import side_by_side

    results = []
    before = kcore.get_num_threads()
    rng = _np.random.default_rng(0)
    base = rng.standard_normal(SHAPE, dtype=_np.float32)  # (float16 sums stay in range)
    try:
        for dtype in ("float16", "float32"):
            x = base.astype(dtype)
            for t in thread_counts:
                kcore.set_num_threads(t)
                with dask.config.set(scheduler="threads", num_workers=t), _np.errstate(all="ignore"):
                    for name, kfn, nfn, check in _cases(x):
                        check(kfn())
                        tk, tn, ratio = side_by_side(kfn, nfn, rounds, 0.0)
                        results.append(DaskResult(name, dtype, t, tk, tn, ratio))
                        if progress:
                            progress(results[-1])
    finally:
        kcore.set_num_threads(before)
    return results


def header(thread_counts: list[int]) -> str:
    import dask

    return (f"kcore {kcore.__version__} + Dask {dask.__version__} vs NumPy {np.__version__} + Dask on "
            f"{cpu_name()} ({os.cpu_count()} CPUs), Python {platform.python_version()}\n"
            f"input {'x'.join(map(str, SHAPE))} in kcore's canonical blocks; threaded scheduler with t workers; "
            f"targets: float16 {TARGETS['float16']}x, float32 {TARGETS['float32']}x\n"
            f"{'case':<30} {'dtype':<8} {'t':>2} {'kcore+dask':>11} {'numpy+dask':>11} {'speedup':>8} target")


def format_row(r: DaskResult) -> str:
    def ms(t):
        return f"{t * 1e3:.1f}ms"

    met = "met" if r.speedup >= r.target else "missed"
    return f"{r.case:<30} {r.dtype:<8} {r.threads:>2} {ms(r.t_kcore):>11} {ms(r.t_numpy):>11} {r.speedup:>7.2f}x {met}"
