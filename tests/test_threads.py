"""Threads: bitwise invariance, process-wide setting, env defaults, threadpoolctl, fork, GIL."""
import os
import subprocess
import sys
import textwrap
import threading

import numpy as np
import pytest

import kcore
from kcore import backend as K
from kcore._runtime import _core

OPS = ["sum", "mean", "prod", "max", "min", "var", "std", "any", "all"]
CASES = [((1 << 20,), None), ((1 << 20,), 0), ((512, 2048), 0), ((512, 2048), 1), ((2048, 512), None),
         ((64, 64, 256), (0, 2)), ((3, 300001), 1), ((300001, 3), 0)]


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_results_are_bitwise_identical_for_every_thread_count(dtype, threads, rng):
    for shape, axis in CASES:
        x = (rng.standard_normal(shape) + 0.5).astype(dtype)
        views = (x, x.T) if len(shape) > 1 else (x, x[::-1])
        for view in views:
            results = {}
            for n in (1, 2, 3, 4):
                threads.set_num_threads(n)
                out = [np.asarray(getattr(K, op)(view, axis=axis)) for op in OPS]
                if not isinstance(axis, tuple):
                    out.append(np.asarray(K.argmax(view, axis=0 if axis is None else axis)))
                results[n] = [o.tobytes() for o in out]
            assert results[1] == results[2] == results[3] == results[4], (shape, axis)


def test_set_num_threads_is_process_wide(threads):
    threads.set_num_threads(3)
    seen = []
    t = threading.Thread(target=lambda: seen.append((kcore.get_num_threads(), _core.effective_num_threads())))
    t.start()
    t.join()
    assert seen == [(3, 3)]


def test_set_num_threads_validates(threads):
    with pytest.raises(ValueError, match="set_num_threads: n must be >= 1, got 0"):
        kcore.set_num_threads(0)
    with pytest.raises(TypeError, match="set_num_threads: n must be an int, got str"):
        kcore.set_num_threads("2")
    with pytest.raises(TypeError, match="set_num_threads: n must be an int"):
        kcore.set_num_threads(2.0)
    kcore.set_num_threads(np.int64(2))
    assert kcore.get_num_threads() == 2


def _run(code, env_extra, timeout=120):
    env = {k: v for k, v in os.environ.items() if k not in ("KCORE_NUM_THREADS", "OMP_NUM_THREADS")}
    env.update(env_extra)
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env, capture_output=True,
                          text=True, timeout=timeout)


@pytest.mark.parametrize("env,expected", [({"KCORE_NUM_THREADS": "3"}, 3), ({"OMP_NUM_THREADS": "5"}, 5),
                                          ({"KCORE_NUM_THREADS": "2", "OMP_NUM_THREADS": "7"}, 2),
                                          ({"OMP_NUM_THREADS": "4,2"}, 4)])
def test_thread_count_defaults_from_environment(env, expected):
    r = _run("import kcore; print(kcore.get_num_threads())", env)
    assert r.returncode == 0, r.stderr
    assert int(r.stdout.split()[-1]) == expected


def test_invalid_thread_env_warns_and_falls_back():
    r = _run("import kcore, os; print(kcore.get_num_threads() == len(os.sched_getaffinity(0)))",
             {"KCORE_NUM_THREADS": "lots"})
    assert r.returncode == 0 and r.stdout.split()[-1] == "True"
    assert "ignoring KCORE_NUM_THREADS='lots'" in r.stderr


def test_threadpoolctl_sees_and_limits_the_pool(threads):
    threadpoolctl = pytest.importorskip("threadpoolctl")
    if not _core.build_info()["openmp"]:
        pytest.skip("serial build")
    threads.set_num_threads(2)
    info = threadpoolctl.threadpool_info()
    assert any(i["user_api"] == "openmp" for i in info)
    with threadpoolctl.threadpool_limits(1, user_api="openmp"):
        assert _core.effective_num_threads() == 1
        x = np.ones(1 << 20, np.float32)
        assert K.sum(x) == 1 << 20
    assert _core.effective_num_threads() == 2


def test_fork_after_threads_does_not_hang():
    code = """
        import os, numpy as np, kcore
        from kcore import backend as K
        kcore.set_num_threads(2)
        x = np.ones(1 << 21, np.float32)
        assert K.sum(x) == 1 << 21
        pid = os.fork()
        if pid == 0:
            ok = K.sum(x) == 1 << 21 and K.var(x.reshape(1024, -1), axis=0).shape == (2048,)
            os._exit(0 if ok else 1)
        _, status = os.waitpid(pid, 0)
        assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, status
        assert K.sum(x) == 1 << 21  # the parent keeps its threads
        print("ok")
    """
    r = _run(code, {}, timeout=60)
    assert r.returncode == 0 and r.stdout.split()[-1] == "ok", r.stderr


def test_python_threads_can_call_concurrently(rng):
    x = rng.standard_normal((256, 4096)).astype(np.float32)
    expected = K.sum(x, axis=1)
    errors = []

    def work():
        for _ in range(20):
            if not np.array_equal(K.sum(x, axis=1), expected):
                errors.append("mismatch")

    ts = [threading.Thread(target=work) for _ in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert not errors


def test_calling_thread_affinity_is_left_alone(threads, rng):
    # Workers are kept off the caller's CPU by narrowing *their* affinity, never the caller's.
    if not hasattr(os, "sched_getaffinity"):
        pytest.skip("no affinity API")
    before = os.sched_getaffinity(0)
    threads.set_num_threads(2)
    x = rng.standard_normal((2048, 1024)).astype(np.float32)
    for _ in range(5):
        K.sum(x, axis=0)
    assert os.sched_getaffinity(0) == before


@pytest.mark.parametrize("pin", ["0", "1"])
def test_worker_pinning_switch_gives_the_same_bits(pin):
    code = """
        import numpy as np, kcore
        from kcore import backend as K
        x = np.random.default_rng(3).standard_normal((2048, 1024)).astype(np.float32)
        print(K.sum(x, axis=0).tobytes().hex()[:64], float(K.sum(x)))
    """
    r = _run(code, {"KCORE_PIN_WORKERS": pin, "KCORE_NUM_THREADS": "2"})
    assert r.returncode == 0, r.stderr
    ref = _run(code, {"KCORE_NUM_THREADS": "1"})
    assert ref.returncode == 0, ref.stderr
    assert r.stdout == ref.stdout


@pytest.mark.parametrize("op", ["sum0", "sumNone", "var1", "max0", "cumsum0", "batch_dot", "cast"])
def test_tight_loops_give_the_same_bits_as_a_cold_call(threads, rng, op):
    # Back-to-back calls find the workers still spinning and use them for smaller inputs than a
    # call after a pause does; only the thread count may change, never the bits.
    import time

    threads.set_num_threads(2)
    x = rng.standard_normal((512, 512)).astype(np.float32)
    b = rng.standard_normal((256, 16, 16)).astype(np.float32)
    fn = {"sum0": lambda: K.sum(x, axis=0), "sumNone": lambda: K.sum(x), "var1": lambda: K.var(x, axis=1),
          "max0": lambda: K.max(x, axis=0), "cumsum0": lambda: K.cumsum(x, axis=0),
          "batch_dot": lambda: K.batch_dot(b, b, axes=(2, 1)), "cast": lambda: K.cast(x, "float16")}[op]
    time.sleep(0.05)
    cold = np.asarray(fn()).tobytes()
    warm = {np.asarray(fn()).tobytes() for _ in range(40)}
    assert warm == {cold}


SHUTDOWN_SCRIPT = """
import threading, time
import numpy as np
from kcore import backend as K
rng = np.random.default_rng(0)
a = rng.standard_normal(8 << 20).astype(np.float32)
b = rng.standard_normal((1024, 1024)).astype(np.float32)
img = rng.standard_normal((8, 32, 32, 16)).astype(np.float32)
w = rng.standard_normal((3, 3, 16, 16)).astype(np.float32)
calls = [lambda: K.cumsum(a), lambda: K.var(b), lambda: K.dot(b, b), lambda: K.conv2d(img, w, padding="same"),
         lambda: K.tanh(a), lambda: K.cast(a, "float16")]
started = threading.Barrier(len(calls) + 1)
def work(f):
    started.wait()
    while True:
        f()
for f in calls:
    threading.Thread(target=work, args=(f,), daemon=True).start()
started.wait()
time.sleep(0.2)
"""


@pytest.mark.parametrize("threads_env", ["2", "1"])
def test_interpreter_exit_with_daemon_threads_inside_kernels(threads_env):
    # The main thread ends while daemon threads run kernels: each must never take the GIL back
    # through a noexcept frame (pybind11's gil_scoped_release aborted the process here).
    env = dict(os.environ, KCORE_NUM_THREADS=threads_env)
    for _ in range(5):
        r = subprocess.run([sys.executable, "-c", SHUTDOWN_SCRIPT], capture_output=True, text=True, env=env,
                           timeout=120)
        assert r.returncode == 0 and "terminate" not in r.stderr and "FATAL" not in r.stderr, r.stderr[-2000:]


def test_closed_kernel_gate_parks_other_threads_only():
    # kcore's atexit handler closes the gate: the closing thread still runs kernels, others park
    # before starting one (so none runs while the libraries' exit destructors do).
    code = textwrap.dedent("""
        import threading, numpy as np
        from kcore import backend as K
        from kcore._runtime import _core
        a = np.ones(1000, np.float32)
        assert _core.close_kernels(5.0)
        assert float(K.sum(a)) == 1000.0
        done = threading.Event()
        t = threading.Thread(target=lambda: (K.sum(a), done.set()), daemon=True)
        t.start()
        assert not done.wait(0.5)
        print("ok")
    """)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr[-2000:]
