"""Loads the native core with the environment it needs, and owns the thread/CPU-level settings."""
from __future__ import annotations

import os
import warnings

_LEVELS = ("baseline", "avx2", "avx512")


def _load_core():
    # libgomp reads its wait policy once, when it is loaded. Spinning workers stall 20-30x when
    # other processes keep every core busy, so ask for a passive policy unless the user chose one,
    # and put the environment back afterwards so children and other libraries see the user's own.
    saved = {k: os.environ.get(k) for k in ("OMP_WAIT_POLICY",)}
    if saved["OMP_WAIT_POLICY"] is None:
        os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
    try:
        from kcore import _core
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
    return _core


_core = _load_core()


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
    try:
        return max(1, len(os.sched_getaffinity(0))), "default (usable cores)"
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1), "default (cpu count)"


def _select_level() -> str:
    cap = os.environ.get("KCORE_CPU_LEVEL", "").strip().lower()
    if cap and cap not in _LEVELS:
        raise ValueError(f"KCORE_CPU_LEVEL must be one of {', '.join(_LEVELS)}; got {cap!r}")
    _core.select_cpu_level(cap)
    return cap


_threads_source = "default"
_n, _threads_source = _threads_from_env()
_core.set_num_threads(_n)
_level_cap = _select_level()


def version() -> str:
    return _core.build_info()["version"]


def set_num_threads(n: int) -> None:
    """Set the number of threads kcore's kernels use, for the whole process."""
    global _threads_source
    if isinstance(n, bool) or not isinstance(n, int) and not hasattr(n, "__index__"):
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
        f"  wait policy:       {os.environ.get('OMP_WAIT_POLICY', 'PASSIVE (set by kcore)')}",
    ]
    lines += _config.report_lines()
    return "\n".join(lines)


def show_config() -> None:
    """Print version, build, CPU level, threads and the Keras config with where each came from."""
    print(config_report())
