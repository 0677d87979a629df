"""Loads the native core with the environment it needs, and owns the thread/CPU-level settings."""
from __future__ import annotations

import atexit
import glob
import importlib.util
import os
import warnings

_LEVELS = ("baseline", "avx2", "avx512")


# libgomp's spin before a waiting thread sleeps (iterations of a pause loop). The default lets
# idle workers stall a kernel many times over when other processes keep every core busy; never
# spinning (a passive policy) makes every parallel region wake a sleeping core, which doubles
# mid-sized kernels on VMs. A short spin covers back-to-back calls and burns little per region
# (bench/NOTES.md).
SPINCOUNT = "2000"


def _load_core():
    # libgomp reads its wait settings once, when it is loaded; ask for the short spin unless the
    # user chose a policy, and put the environment back afterwards so children and other
    # libraries see the user's own.
    user_chose = any(os.environ.get(k) for k in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT"))
    if not user_chose:
        os.environ["GOMP_SPINCOUNT"] = SPINCOUNT
    try:
        from kcore import _core
    finally:
        if not user_chose:
            os.environ.pop("GOMP_SPINCOUNT", None)
    return _core, user_chose


_core, _user_wait_policy = _load_core()


def _close_kernels():
    # Daemon threads may still be inside kernels when the interpreter exits; the libraries those
    # use (OpenBLAS) free their memory in exit destructors. Registered at import, so it runs after
    # the atexit handlers registered later (which may still call kcore).
    _core.close_kernels(10.0)


atexit.register(_close_kernels)


def _threads_from_env() -> tuple[int, str]:
    for var in ("KCORE_NUM_THREADS", "OMP_NUM_THREADS"):
        raw = os.environ.get(var, "").strip()
        if not raw:
            continue
        first = raw.split(",")[0].strip()  # OMP_NUM_THREADS may be a nesting list
        try:
            n = int(first)
        except ValueError:
            n = 0
        if n >= 1:
            return n, f"environment ({var})"
        warnings.warn(f"kcore: ignoring {var}={raw!r}; expected a positive integer", RuntimeWarning,
                      stacklevel=3)
    return _core.machine_cores(), "default (usable cores)"


def _select_level() -> str:
    cap = os.environ.get("KCORE_CPU_LEVEL", "").strip().lower()
    if cap and cap not in _LEVELS:
        raise ValueError(f"KCORE_CPU_LEVEL must be one of {', '.join(_LEVELS)}; got {cap!r}")
    _core.select_cpu_level(cap)
    return cap


_n, _threads_source = _threads_from_env()
_core.set_num_threads(_n)
_level_cap = _select_level()


def _load_blas() -> str:
    """Opens OpenBLAS from the scipy-openblas32 wheel for large float32/float64 products (unless
    KCORE_BLAS=0); returns what show_config reports. The package is located, not imported (its
    import pulls in ctypes and platform). OPENBLAS_NUM_THREADS=1 while it loads keeps it from
    starting its own thread pool: kcore threads the calls itself."""
    choice = os.environ.get("KCORE_BLAS", "").strip()
    if choice not in ("", "0", "1"):
        raise ValueError(f"KCORE_BLAS must be 0 or 1; got {choice!r}")
    if choice == "0":
        return "off (KCORE_BLAS=0): native kernel for every product"
    spec = importlib.util.find_spec("scipy_openblas32")
    libs = []
    if spec is not None and spec.submodule_search_locations:
        libdir = os.path.join(next(iter(spec.submodule_search_locations)), "lib")
        libs = sorted(glob.glob(os.path.join(libdir, "libscipy_openblas*.so*"))
                      + glob.glob(os.path.join(libdir, "libscipy_openblas*.dylib")))
    if not libs:
        return "none found (scipy-openblas32 is not installed): native kernel for every product"
    saved = os.environ.get("OPENBLAS_NUM_THREADS")
    os.environ["OPENBLAS_NUM_THREADS"] = "1"
    try:
        _core.load_blas(libs[0], "scipy_")
    except ValueError as e:
        warnings.warn(f"kcore: not using OpenBLAS: {e}", RuntimeWarning, stacklevel=2)
        return f"failed to load ({e}): native kernel for every product"
    finally:
        if saved is None:
            os.environ.pop("OPENBLAS_NUM_THREADS", None)
        else:
            os.environ["OPENBLAS_NUM_THREADS"] = saved
    return libs[0]


_blas_report = _load_blas()
_blas_loaded = _core.blas_path() is not None


def _blas_min_dim_from_env() -> int | None:
    """KCORE_BLAS_MIN_DIM=n sends a float32/float64 product to the BLAS only when M, N and K all
    exceed n; without it, kcore's default (tuning.hpp). Returns n, or None."""
    raw = os.environ.get("KCORE_BLAS_MIN_DIM", "").strip()
    if not raw:
        return None
    try:
        n = int(raw)
    except ValueError:
        n = -1
    if n < 0:
        raise ValueError(f"KCORE_BLAS_MIN_DIM must be a whole number >= 0; got {raw!r}")
    _core.set_blas_min_dim(n)
    return n


_blas_min_dim_env = _blas_min_dim_from_env()


def _blas_line() -> str:
    """The BLAS report, with the size threshold as it is now (tests and users may move it)."""
    if not _blas_loaded:
        return _blas_report
    n = _core.blas_min_dim()
    source = ("KCORE_BLAS_MIN_DIM" if n == _blas_min_dim_env
              else "the default" if _blas_min_dim_env is None
              and n == _core.default_blas_min_dim() else "set at run time")
    return (f"{_blas_report} (float32/float64 products with M, N and K all over {n}, {source}; "
            f"those small enough for kcore's register-blocked kernel stay there)")


def _result_cache_limit() -> str:
    """Applies KCORE_RESULT_CACHE_MB (the most memory of freed large results kept for reuse; 0
    keeps none) and returns what show_config reports."""
    raw = os.environ.get("KCORE_RESULT_CACHE_MB", "").strip()
    if raw:
        if not raw.isdigit():
            raise ValueError(f"KCORE_RESULT_CACHE_MB must be a non-negative integer (MiB); got {raw!r}")
        _core.set_result_cache_limit(int(raw) << 20)
    info = _core.result_cache_info()
    source = "KCORE_RESULT_CACHE_MB" if raw else "default"
    if info["limit"] == 0:
        return f"off ({source}): every result gets fresh memory"
    return (f"up to {info['limit'] >> 20} MiB in {info['max_blocks']} blocks of freed results of "
            f"{info['min_bytes'] >> 20} MiB and up kept for reuse ({source})")


_result_cache_report = _result_cache_limit()


def _scratch_cache_report() -> str:
    info = _core.scratch_cache_info()
    return (f"up to {info['limit'] >> 20} MiB in {info['max_blocks']} blocks of the kernels' freed scratch "
            f"buffers of {info['min_bytes'] >> 10} KiB and up kept for reuse")


def version() -> str:
    return _core.build_info()["version"]


def set_num_threads(n: int) -> None:
    """Set the number of threads kcore's kernels use, for the whole process."""
    global _threads_source
    if isinstance(n, bool) or (not isinstance(n, int) and not hasattr(n, "__index__")):
        raise TypeError(f"set_num_threads: n must be an int, got {type(n).__name__}")
    n = int(n.__index__()) if not isinstance(n, int) else n
    if n < 1:
        raise ValueError(f"set_num_threads: n must be >= 1, got {n}")
    _core.set_num_threads(n)
    _threads_source = "set_num_threads()"


def get_num_threads() -> int:
    """The number of threads kcore's kernels use."""
    return _core.get_num_threads()


def config_report() -> str:
    from kcore import _config

    info = _core.build_info()
    lines = [
        f"kcore {info['version']}",
        f"  compiler:          {info['compiler']}",
        f"  build flags:       {info['build_flags'].strip() or '(none)'}",
        f"  compiled levels:   {info['compiled_levels']}",
        f"  cpu supports:      {_core.supported_cpu_levels()}",
        f"  cpu level in use:  {_core.cpu_level()}"
        + (f" (capped by KCORE_CPU_LEVEL={_level_cap})" if _level_cap else ""),
        f"  openmp runtime:    {info['openmp_runtime']}",
        f"  threads:           {get_num_threads()} ({_threads_source})",
        "  wait policy:       " + (
            f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', '')!r} "
            f"GOMP_SPINCOUNT={os.environ.get('GOMP_SPINCOUNT', '')!r} (yours)" if _user_wait_policy
            else f"spin {SPINCOUNT} pauses, then sleep (GOMP_SPINCOUNT, set by kcore)"),
        f"  blas:              {_blas_line()}",
        f"  result memory:     {_result_cache_report}",
        f"  scratch memory:    {_scratch_cache_report()}",
    ]
    lines += _config.report_lines()
    return "\n".join(lines)


def show_config() -> None:
    """Print version, build, CPU level, threads and the Keras config with where each came from."""
    print(config_report())
