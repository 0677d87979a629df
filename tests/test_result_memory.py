"""Large results take their memory from kcore's bounded block cache through NumPy's handler API."""
import gc
import os
import subprocess
import sys

import numpy as np
import pytest

from kcore import backend as K
from kcore._runtime import _core

try:
    from numpy._core.multiarray import get_handler_name
except ImportError:  # NumPy 1.x
    from numpy.core.multiarray import get_handler_name

MIN_BYTES = _core.result_cache_info()["min_bytes"]
LARGE = (1024, MIN_BYTES // 1024 // 4)  # float32: exactly MIN_BYTES


@pytest.fixture
def cache_limit():
    before = _core.result_cache_info()["limit"]
    yield _core.set_result_cache_limit
    _core.set_result_cache_limit(before)


def test_large_results_use_the_cache_small_ones_numpy():
    x = np.arange(np.prod(LARGE), dtype=np.float32).reshape(LARGE)
    big = [K.transpose(x), K.cast(x, "float64"), K.cumsum(x, axis=0), K.permute_dimensions(x, (1, 0)),
           K.spatial_2d_padding(x[None, :, :, None])]
    for r in big:
        assert get_handler_name(r) == "kcore_result_cache"
        assert r.flags.owndata and r.base is None and r.flags.writeable
    np.testing.assert_array_equal(big[0], x.T)
    np.testing.assert_array_equal(big[1], x.astype(np.float64))
    small = K.transpose(x[:8, :8])
    assert get_handler_name(small) != "kcore_result_cache"
    # Mid-sized results (1 MiB up) are aligned to a cache line, so the next kernel's vector loads
    # of them never split lines (NumPy's malloc gives 16 bytes).
    for n in (1 << 18, (1 << 18) + 3, 400000, 1 << 20):
        mids = [K.relu(np.ones(n, np.float32)) for _ in range(4)]
        assert all(m.__array_interface__["data"][0] % 64 == 0 for m in mids), n
        np.testing.assert_array_equal(mids[0], 1)
    # Arrays NumPy makes from ours are NumPy's own.
    assert get_handler_name(big[0] + 1) != "kcore_result_cache"


def test_freed_results_are_reused_within_the_limit(cache_limit):
    _core.clear_result_cache()
    x = np.ones(LARGE, np.float32)
    r = K.transpose(x)
    address = r.__array_interface__["data"][0]
    assert _core.result_cache_info()["cached"] == 0
    del r
    gc.collect()
    assert _core.result_cache_info()["cached"] >= MIN_BYTES
    r = K.transpose(x)
    assert r.__array_interface__["data"][0] == address  # the same block, no fresh pages
    assert _core.result_cache_info()["cached"] == 0
    # A reused block holds the old values until the kernel overwrites them: check it does.
    np.testing.assert_array_equal(K.transpose(np.full(LARGE, 2, np.float32)), 2)
    del r
    cache_limit(0)
    assert _core.result_cache_info()["cached"] == 0
    r = K.transpose(x)
    del r
    assert _core.result_cache_info()["cached"] == 0


def test_cache_keeps_a_bounded_number_of_blocks(cache_limit):
    cache_limit(1 << 30)
    info = _core.result_cache_info()
    x = np.ones(LARGE, np.float32)
    results = [K.transpose(x) for _ in range(info["max_blocks"] + 3)]
    del results
    gc.collect()
    info = _core.result_cache_info()
    assert 0 < info["cached"] <= info["max_blocks"] * (MIN_BYTES + (2 << 20))
    cache_limit(MIN_BYTES)  # lowering the limit gives blocks back at once
    assert _core.result_cache_info()["cached"] <= MIN_BYTES + (2 << 20)


def test_a_larger_free_block_is_split_for_a_smaller_result(cache_limit):
    cache_limit(1 << 30)
    _core.clear_result_cache()
    big = K.transpose(np.ones((4 * LARGE[0], LARGE[1]), np.float32))  # 4 x MIN_BYTES
    address = big.__array_interface__["data"][0]
    del big
    gc.collect()
    cached = _core.result_cache_info()["cached"]
    assert cached >= 4 * MIN_BYTES
    # The head serves the smaller result (its pages are already there); the rest stays free and
    # serves the next one; the result holds only what it asked for.
    a = K.transpose(np.full(LARGE, 2, np.float32))
    assert a.__array_interface__["data"][0] == address
    assert _core.result_cache_info()["cached"] == cached - MIN_BYTES
    b = K.cast(np.full(LARGE, 3, np.float32), "float32")
    assert b.__array_interface__["data"][0] == address + MIN_BYTES
    assert _core.result_cache_info()["cached"] == cached - 2 * MIN_BYTES
    np.testing.assert_array_equal(a, 2)
    np.testing.assert_array_equal(b, 3)
    del a, b
    gc.collect()
    assert _core.result_cache_info()["cached"] == cached
    # A block split down to less than the smallest kept size goes back to the kernel.
    _core.clear_result_cache()
    c = K.transpose(np.ones((LARGE[0] + LARGE[0] // 2, LARGE[1]), np.float32))  # 1.5 x MIN_BYTES
    del c
    gc.collect()
    d = K.transpose(np.full(LARGE, 5, np.float32))
    assert _core.result_cache_info()["cached"] == 0
    np.testing.assert_array_equal(d, 5)


def test_freed_pieces_join_again_and_the_smallest_blocks_go_first(cache_limit):
    def at(a):
        return a.__array_interface__["data"][0]

    cache_limit(1 << 30)
    _core.clear_result_cache()
    four = (4 * LARGE[0], LARGE[1])
    big = K.transpose(np.ones(four, np.float32))
    address = at(big)
    del big
    gc.collect()
    a, b = K.transpose(np.full(LARGE, 2, np.float32)), K.transpose(np.full(LARGE, 3, np.float32))
    assert (at(a), at(b)) == (address, address + MIN_BYTES)  # pieces of the one free block
    del b, a
    gc.collect()
    # The pieces joined the rest of the block: a result of its whole size takes it, no fresh pages.
    assert _core.result_cache_info()["cached"] == 4 * MIN_BYTES
    c = K.transpose(np.ones(four, np.float32))
    assert at(c) == address and _core.result_cache_info()["cached"] == 0
    # Over the limit, the smallest free block goes first, though freed last: a large block serves
    # any request a smaller one does.
    spacer = K.transpose(np.ones(LARGE, np.float32))  # (in use: keeps `small` away from c's block)
    small = K.transpose(np.ones(LARGE, np.float32))
    assert at(small) + MIN_BYTES != address and address + 4 * MIN_BYTES != at(small)
    del c
    gc.collect()
    del small
    gc.collect()
    assert _core.result_cache_info()["cached"] == 5 * MIN_BYTES
    cache_limit(4 * MIN_BYTES)
    assert _core.result_cache_info()["cached"] == 4 * MIN_BYTES
    assert at(K.transpose(np.ones(four, np.float32))) == address
    del spacer


def test_resize_and_pickle_of_a_cached_result():
    import pickle

    x = np.arange(np.prod(LARGE), dtype=np.float32).reshape(LARGE)
    r = K.cast(x, "float32")
    r.resize((2 * x.size,), refcheck=False)  # NumPy reallocates through the handler
    np.testing.assert_array_equal(r[: x.size], x.ravel())
    np.testing.assert_array_equal(r[x.size:], 0)
    r.resize((10,), refcheck=False)
    np.testing.assert_array_equal(r, np.arange(10, dtype=np.float32))
    t = K.transpose(x)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(t)), x.T)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_cached_blocks_work_in_a_forked_child():
    x = np.ones(LARGE, np.float32)
    del_me = K.transpose(x)
    del del_me  # one block now waits in the cache
    pid = os.fork()
    if pid == 0:
        ok = False
        try:
            ok = bool(np.all(K.transpose(np.full(LARGE, 3, np.float32)) == 3))
        finally:
            os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0


def test_result_cache_environment():
    code = "import kcore; kcore.show_config(); print(kcore._runtime._core.result_cache_info()['limit'])"
    env = dict(os.environ, KCORE_RESULT_CACHE_MB="0")
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "result memory:     off (KCORE_RESULT_CACHE_MB)" in r.stdout
    assert r.stdout.splitlines()[-1] == "0"
    env["KCORE_RESULT_CACHE_MB"] = "64"
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stdout.splitlines()[-1] == str(64 << 20)
    env["KCORE_RESULT_CACHE_MB"] = "-1"
    r = subprocess.run([sys.executable, "-c", "import kcore"], env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode != 0
    assert "KCORE_RESULT_CACHE_MB must be a non-negative integer (MiB); got '-1'" in r.stderr


def _transposed_conv(seed):
    # A transposed convolution whose zero-padded input and per-class buffers are kernel scratch
    # of several hundred KiB.
    r = np.random.default_rng(seed)
    x = r.standard_normal((4, 28, 28, 128)).astype(np.float32)
    w = r.standard_normal((3, 3, 64, 128)).astype(np.float32)
    return lambda: K.conv2d_transpose(x, w, (4, 56, 56, 64), (2, 2), "same")


def test_kernel_scratch_is_kept_for_reuse_within_its_limit():
    info = _core.scratch_cache_info()
    assert info["min_bytes"] > 0 and info["limit"] >= info["min_bytes"]
    _core.clear_scratch_cache()
    assert _core.scratch_cache_info()["cached"] == 0
    f, g = _transposed_conv(0), _transposed_conv(1)
    first = f()
    kept = _core.scratch_cache_info()["cached"]
    assert 0 < kept <= info["limit"]
    # The same blocks serve the next calls (nothing more is kept), and what they held before is
    # overwritten: another problem in between, then the first again, bit for bit.
    g()
    again = f()
    assert _core.scratch_cache_info()["cached"] == kept
    assert again.tobytes() == first.tobytes()
    _core.clear_scratch_cache()
    assert _core.scratch_cache_info()["cached"] == 0
    assert f().tobytes() == first.tobytes()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
@pytest.mark.skipif("libasan" in os.environ.get("LD_PRELOAD", ""),
                    reason="ASan's allocator has no fork handlers: a child forked while another thread allocates "
                           "hangs in ASan's lock (glibc's malloc has them)")
def test_fork_while_a_thread_uses_the_caches():
    # A child forked while another thread is inside a cache must not inherit it locked.
    code = """if True:
        import os, threading
        import numpy as np
        from kcore import backend as K
        x = np.random.default_rng(0).standard_normal((2, 28, 28, 64)).astype(np.float32)
        w = np.random.default_rng(1).standard_normal((3, 3, 32, 64)).astype(np.float32)
        big = np.ones((1024, 2048), np.float32)
        stop = False
        def work():
            while not stop:
                K.conv2d_transpose(x, w, (2, 56, 56, 32), (2, 2), "same")
                K.transpose(big)
        t = threading.Thread(target=work)
        t.start()
        for _ in range(20):
            pid = os.fork()
            if pid == 0:
                y = K.conv2d_transpose(x, w, (2, 56, 56, 32), (2, 2), "same")
                os._exit(0 if K.transpose(big).shape == (2048, 1024) and y.shape == (2, 56, 56, 32) else 1)
            _, status = os.waitpid(pid, 0)
            assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, status
        stop = True
        t.join()
        print("ok")
    """
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr


def test_show_config_reports_scratch_memory():
    from kcore._runtime import config_report

    assert "scratch memory:    up to 64 MiB" in config_report()
