"""kcore.dask: kcore's functions on dask arrays, against the float64 oracle and kcore's in-memory
results; the same bits for every chunking and scheduler; the thread budget inside tasks."""
import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

da = pytest.importorskip("dask.array")
dask = pytest.importorskip("dask")
distributed = pytest.importorskip("distributed")

import kcore  # noqa: E402
import kcore.dask as kd  # noqa: E402
from kcore import backend as K  # noqa: E402
from kcore._runtime import _core  # noqa: E402
from reference import (  # noqa: E402
    ACC_REL,
    argreduce_exact,
    assert_cumprod_close,
    assert_prod_close,
    assert_rounded_close,
    cumprod_oracles,
    reduce_exact,
    reduce_spread,
)

VALUE_OPS = ("sum", "prod", "mean", "var", "std", "max", "min", "any", "all")
ARG_OPS = ("argmax", "argmin")
FLOATS = (np.float16, np.float32, np.float64)


def dask_sum_rel(dtype, n):
    """The documented bound of the Dask sums and means relative to sum(|x|) (kcore/dask.py): block
    partials as kcore's float32 sums make them (float16, float32 inputs) or float64 sums."""
    if dtype == np.float32:
        return (np.ceil(np.log2(max(n, 1))) + 1) * 2.0**-24
    return ACC_REL[dtype]


@pytest.fixture
def small_blocks(monkeypatch):
    """A canonical block of 300 elements (and pieces of 40), so that small arrays span many
    blocks and pieces."""
    monkeypatch.setattr(kd, "BLOCK_ELEMENTS", 300)
    monkeypatch.setattr(kd, "PIECE_ELEMENTS", 40)


@pytest.fixture(scope="module")
def cluster():
    """A LocalCluster started by the tests, after kcore ran kernels in this process: 2 worker
    processes of 1 thread each."""
    assert K.sum(np.ones(1 << 20, np.float32)) == 1 << 20  # kcore's threads started before the workers
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
                                  silence_logs=50) as c, distributed.Client(c) as client:
        yield client


def _run(op, d, axis, keepdims=False):
    if op in ARG_OPS:
        return getattr(kd, op)(d, axis=axis)
    if op in ("cumsum", "cumprod"):
        return getattr(kd, op)(d, axis=axis)
    return getattr(kd, op)(d, axis=axis, keepdims=keepdims)


def _data(rng, shape, dtype, mean=0.5):
    x = (rng.standard_normal(shape) + mean).astype(dtype)
    x.flat[::97] = 0.0
    return x


CHUNKINGS = ((7, 9, 5), (1, 13, 11), (20, 1, 2), (3, 30, 11), "canonical")


def _chunked(x, chunks):
    return da.from_array(x, chunks=kd.canonical_chunks(x.shape) if chunks == "canonical" else chunks)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("axis", [None, 0, 1, -1, (0, 2), (1, 2)])
def test_same_bits_for_every_chunking(small_blocks, dtype, axis, rng):
    x = _data(rng, (20, 30, 11), dtype)
    ops = list(VALUE_OPS) + (list(ARG_OPS) + ["cumsum", "cumprod"] if isinstance(axis, int) else [])
    seen = {}
    for chunks in CHUNKINGS:
        d = _chunked(x, chunks)
        got = dask.compute(*[_run(op, d, axis) for op in ops], scheduler="sync")
        seen[chunks] = [np.asarray(g).tobytes() for g in got]
    first = seen[CHUNKINGS[0]]
    for chunks, bits in seen.items():
        assert bits == first, chunks


@pytest.mark.parametrize("scheduler", ["sync", "threads"])
def test_partial_sums_do_not_overflow_where_the_result_does_not(small_blocks, scheduler):
    # Each 300-element block's float32 sum is past float32's range; the mean, and the sum of blocks
    # of opposite signs, are not (hypothesis found the mean of 7 values 4.861177e37 to be inf).
    big = np.float32(4.861177e37)
    x = np.full(1200, big, np.float32)
    got = dask.compute(kd.mean(da.from_array(x, chunks=100)), kd.sum(da.from_array(x, chunks=100)),
                       scheduler=scheduler)
    assert got[0] == big and got[0].dtype == np.float32
    assert np.isposinf(got[1])  # the sum itself is past float32's range
    x[600:] = -big
    d = da.from_array(x, chunks=(7,))
    got = dask.compute(kd.sum(d), kd.mean(d), kd.sum(d.reshape(2, 600), axis=1), scheduler=scheduler)
    assert got[0] == 0 and got[1] == 0
    np.testing.assert_array_equal(got[2], np.float32([np.inf, -np.inf]))
    for op in ("sum", "mean"):  # a float32 block of 7 such values, as hypothesis drew it
        y = np.full(7, big, np.float32)
        assert np.isfinite(getattr(kd, op)(da.from_array(y, chunks=3)).compute(scheduler=scheduler)) == (op == "mean")


# Each example builds and runs a few dask graphs: fewer examples than the kernel tests.
EXAMPLES = min(settings().max_examples, 30)


@settings(max_examples=EXAMPLES)
@given(data=st.data(), dtype=st.sampled_from(FLOATS))
def test_reductions_match_the_oracle(data, dtype):
    shape = data.draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=9))
    bound = {np.float16: 1e3, np.float32: 1e6, np.float64: 1e12}[dtype]
    special = data.draw(st.booleans())
    elements = st.floats(width=np.finfo(dtype).bits, allow_nan=special, allow_infinity=special,
                         **({} if special else {"min_value": -bound, "max_value": bound}))
    x = data.draw(hnp.arrays(dtype, shape, elements=elements))
    chunks = tuple(data.draw(st.integers(1, max(n, 1))) for n in shape)
    d = da.from_array(x, chunks=chunks)
    axis = data.draw(st.sampled_from([None] + list(range(-x.ndim, x.ndim))))
    keepdims = data.draw(st.booleans())
    kd_block = data.draw(st.sampled_from([7, 50, 1 << 24]))
    old = kd.BLOCK_ELEMENTS, kd.PIECE_ELEMENTS
    kd.BLOCK_ELEMENTS, kd.PIECE_ELEMENTS = kd_block, 5
    try:
        got = {op: getattr(kd, op)(d, axis=axis, keepdims=keepdims) for op in VALUE_OPS}
        if x.shape[axis if axis is not None else 0]:
            got.update({op: getattr(kd, op)(d, axis=axis if axis is not None else 0) for op in ARG_OPS})
        values = dask.compute(got, scheduler="sync")[0]
    finally:
        kd.BLOCK_ELEMENTS, kd.PIECE_ELEMENTS = old
    for op, lazy in got.items():
        assert values[op].shape == lazy.shape and values[op].dtype == lazy.dtype, op
        memory = getattr(K, op)(x, *((0 if axis is None else axis,) if op in ARG_OPS else (axis, keepdims)))
        assert np.shape(memory) == values[op].shape and np.asarray(memory).dtype == values[op].dtype, op
    with np.errstate(all="ignore"):
        n = x.size if axis is None else x.shape[axis]
        for op in ("sum", "mean"):  # (a mean goes through its sum, n times it: it overflows with it)
            assert_rounded_close(values[op], reduce_exact(op, x, axis, keepdims), dtype,
                                 reduce_spread(op, x, axis, keepdims), dask_sum_rel(dtype, n),
                                 through=max(n, 1) if op == "mean" else 1)
        for op in ("var", "std"):
            assert_rounded_close(values[op], reduce_exact(op, x, axis, keepdims), dtype,
                                 reduce_spread(op, x, axis, keepdims), ACC_REL[dtype])
        assert_prod_close(values["prod"], reduce_exact("prod", x, axis, keepdims), x, axis, keepdims)
    for op in ("max", "min", "any", "all"):  # exact: kcore's in-memory bits
        np.testing.assert_array_equal(values[op], getattr(K, op)(x, axis, keepdims))
    for op in ARG_OPS:
        if op in values:
            np.testing.assert_array_equal(values[op], argreduce_exact(op, x, 0 if axis is None else axis))


@settings(max_examples=EXAMPLES)
@given(data=st.data(), dtype=st.sampled_from(FLOATS))
def test_scans_match_the_oracle(data, dtype):
    shape = data.draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=12))
    x = data.draw(hnp.arrays(dtype, shape, elements=st.floats(-4, 4, width=np.finfo(dtype).bits)))
    chunks = tuple(data.draw(st.integers(1, max(n, 1))) for n in shape)
    axis = data.draw(st.integers(-x.ndim, x.ndim - 1))
    old = kd.BLOCK_ELEMENTS
    kd.BLOCK_ELEMENTS = data.draw(st.sampled_from([3, 20, 1 << 24]))
    try:
        d = da.from_array(x, chunks=chunks)
        s, p = dask.compute(kd.cumsum(d, axis), kd.cumprod(d, axis), scheduler="sync")
    finally:
        kd.BLOCK_ELEMENTS = old
    assert s.dtype == p.dtype == dtype and s.shape == p.shape == x.shape
    with np.errstate(all="ignore"):
        exact = np.cumsum(x.astype(np.float64), axis=axis)
        spread = np.cumsum(np.abs(x.astype(np.float64)), axis=axis)
        assert_rounded_close(s, exact, dtype, spread, ACC_REL[dtype] * 64)
        assert_cumprod_close(p, cumprod_oracles(x, axis), dtype, x, axis)  # (blocks: another order)


@pytest.mark.parametrize("dtype", FLOATS)
def test_one_block_is_kcore_in_memory_bit_for_bit(dtype, rng):
    x = _data(rng, (64, 300), dtype)
    d = da.from_array(x, chunks=(10, 70))  # rechunked to one canonical block
    for op in VALUE_OPS:
        for axis in (None, 0, 1):
            got = getattr(kd, op)(d, axis=axis).compute(scheduler="sync")
            if op in ("max", "min", "any", "all") or (dtype == np.float64 and op in ("sum", "prod")):
                np.testing.assert_array_equal(got, getattr(K, op)(x, axis))
    for op in ("cumsum", "cumprod", "argmax", "argmin"):
        for axis in (0, 1):
            np.testing.assert_array_equal(getattr(kd, op)(d, axis).compute(scheduler="sync"), getattr(K, op)(x, axis))


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_var_with_a_large_mean_over_many_blocks(small_blocks, dtype):
    base = np.tile(np.array([4, 7, 13, 16], np.float64), 250)
    offset = {np.float16: 100.0, np.float32: 1e4, np.float64: 1e9}[dtype]
    x = (base + offset).astype(dtype)
    d = da.from_array(x, chunks=37)
    assert float(kd.var(d).compute()) == pytest.approx(22.5, rel=2e-3 if dtype == np.float16 else 1e-6)
    assert float(kd.std(d).compute()) == pytest.approx(np.sqrt(22.5), rel=2e-3 if dtype == np.float16 else 1e-6)


def test_float16_sums_accumulate_past_float16(small_blocks):
    x = np.full(10000, 0.1, np.float16)
    d = da.from_array(x, chunks=999)
    assert kd.sum(d).compute() == np.float16(np.float64(np.float16(0.1)) * 10000)
    assert kd.mean(d).compute() == np.float16(0.1)
    assert np.isinf(kd.sum(da.from_array(np.full(4, 60000, np.float16), chunks=1)).compute())


def test_nan_and_first_index_rules_across_blocks(small_blocks):
    x = np.array([[1.0, np.nan, 3.0, 3.0, np.nan, 3.0], [np.nan] * 6, [-np.inf, np.nan, -np.inf, 5, 5, 0]],
                 np.float32)
    x = np.repeat(x, 60, axis=1)  # several canonical blocks along the line
    d = da.from_array(x, chunks=(1, 7))
    np.testing.assert_array_equal(kd.argmax(d, 1).compute(), K.argmax(x, 1))
    np.testing.assert_array_equal(kd.argmin(d, 1).compute(), K.argmin(x, 1))
    np.testing.assert_array_equal(kd.argmax(d, 1).compute(), [120, 0, 180])
    for op in ("sum", "prod", "mean", "max", "min", "var", "std"):
        assert np.isnan(getattr(kd, op)(d, 1).compute()).all(), op


def test_empty_axes_give_the_identities():
    d = da.zeros((0, 3), np.float32, chunks=(1, 2))
    np.testing.assert_array_equal(kd.sum(d, 0).compute(), [0, 0, 0])
    np.testing.assert_array_equal(kd.prod(d, 0).compute(), [1, 1, 1])
    np.testing.assert_array_equal(kd.max(d, 0).compute(), [-np.inf] * 3)
    assert np.isnan(kd.mean(d, 0).compute()).all() and np.isnan(kd.var(d, 0).compute()).all()
    with pytest.raises(ValueError, match="argmax"):
        kd.argmax(d, 0)


@pytest.mark.parametrize("dtype", [np.int32, np.uint8, np.int64])
def test_integer_reductions_and_scans_are_kcores_exactly(small_blocks, dtype, rng):
    x = rng.integers(0, 100, (25, 31)).astype(dtype)
    d = da.from_array(x, chunks=(4, 6))
    for op in ("sum", "prod", "max", "min", "any", "all"):
        for axis in (None, 0, 1):
            np.testing.assert_array_equal(getattr(kd, op)(d, axis).compute(), getattr(K, op)(x, axis), err_msg=op)
    for op in ("cumsum", "cumprod", "argmax", "argmin"):
        for axis in (0, 1):
            np.testing.assert_array_equal(getattr(kd, op)(d, axis).compute(), getattr(K, op)(x, axis), err_msg=op)


def test_the_canonical_grid():
    assert kd.canonical_chunks((10,)) == ((10,),)
    assert kd.canonical_chunks((0, 5)) == ((0,), (5,))
    n = kd.BLOCK_ELEMENTS
    assert kd.canonical_chunks((5, n // 2)) == ((2, 2, 1), (n // 2,))
    assert kd.canonical_chunks((3, 2, n)) == ((1, 1, 1), (1, 1), (n,))
    assert kd.canonical_chunks((2 * n + 5,)) == ((n, n, 5),)


def test_rechunk_is_free_on_the_canonical_grid(small_blocks, rng):
    x = da.from_array(_data(rng, (40, 25), np.float32), chunks=kd.canonical_chunks((40, 25)))
    graph = kd.sum(x, 0).__dask_graph__()
    assert not any("rechunk" in str(k) for k in graph)
    y = da.from_array(_data(rng, (40, 25), np.float32), chunks=(7, 7))
    assert any("rechunk" in str(k) for k in kd.sum(y, 0).__dask_graph__())


# ---------------------------------------------------------------------------------------------
# Chunk-local ops: kcore's in-memory bits on every chunking


def test_casts_transposes_and_elementwise_ops_are_kcores_bits(rng):
    x = (rng.standard_normal((12, 9, 7)) * 3).astype(np.float32)
    x[0, 0, :3] = [np.nan, np.inf, -0.0]
    for chunks in ((5, 4, 3), (12, 9, 7), (1, 2, 7)):
        d = da.from_array(x, chunks=chunks)
        cases = [
            (kd.cast(d, "float16"), K.cast(x, "float16")),
            (kd.cast(d, np.float64), K.cast(x, np.float64)),
            (kd.transpose(d), K.transpose(x)),
            (kd.permute_dimensions(d, (1, 2, 0)), K.permute_dimensions(x, (1, 2, 0))),
            (kd.exp(d), K.exp(x)), (kd.log(d), K.log(x)), (kd.tanh(d), K.tanh(x)), (kd.sigmoid(d), K.sigmoid(x)),
            (kd.relu(d, alpha=0.1, max_value=2.0), K.relu(x, alpha=0.1, max_value=2.0)),
            (kd.elu(d, 0.5), K.elu(x, 0.5)), (kd.clip(d, -1.0, 1.5), K.clip(x, -1.0, 1.5)),
            (kd.square(d), K.square(x)), (kd.sqrt(d), K.sqrt(x)), (kd.pow(d, 2), K.pow(x, 2)),
            (kd.maximum(d, 0.5), K.maximum(x, 0.5)), (kd.minimum(d, d[:1]), K.minimum(x, x[:1])),
            (kd.greater(d, 1.0), K.greater(x, 1.0)), (kd.equal(d, d), K.equal(x, x)),
            (kd.softmax(d, axis=1), K.softmax(x, axis=1)), (kd.softmax(d), K.softmax(x)),
        ]
        for i, (lazy, memory) in enumerate(cases):
            got = lazy.compute(scheduler="threads")
            assert got.dtype == memory.dtype and lazy.dtype == memory.dtype, i
            np.testing.assert_array_equal(got, memory, err_msg=str(i))


def test_normalisation_ops(small_blocks, rng):
    x = (rng.standard_normal((16, 10, 4)) + 2).astype(np.float32)
    mean, var = np.mean(x, axis=(0, 1)), np.var(x, axis=(0, 1))
    beta, gamma = rng.standard_normal(4).astype(np.float32), rng.standard_normal(4).astype(np.float32)
    bias = rng.standard_normal(10).astype(np.float32)
    outs = {}
    for chunks in ((3, 4, 1), (16, 10, 4), (5, 10, 3)):
        d = da.from_array(x, chunks=chunks)
        got = kd.batch_normalization(d, mean, var, beta, gamma, axis=-1, epsilon=1e-3).compute()
        np.testing.assert_array_equal(got, K.batch_normalization(x, mean, var, beta, gamma, axis=-1, epsilon=1e-3))
        got = kd.bias_add(kd.transpose(d), bias, data_format="channels_first").compute()
        np.testing.assert_array_equal(got, K.bias_add(K.transpose(x), bias, data_format="channels_first"))
        l2 = kd.l2_normalize(d, axis=(0, 1)).compute()
        assert l2.dtype == np.float32
        np.testing.assert_allclose(l2, K.l2_normalize(x, axis=(0, 1)), rtol=2e-6)
        outs[chunks] = l2.tobytes()
    assert len(set(outs.values())) == 1


# ---------------------------------------------------------------------------------------------
# Schedulers, processes and threads


def _all_ops(d):
    ops = [getattr(kd, op)(d, axis) for op in VALUE_OPS for axis in (None, 0, (1, 2))]
    ops += [getattr(kd, op)(d, axis) for op in ARG_OPS + ("cumsum", "cumprod") for axis in (0, 2)]
    return ops + [kd.transpose(kd.cast(d, "float16"))]


def _fingerprint(results):
    return [np.asarray(r).tobytes() for r in results]


@pytest.fixture(scope="module")
def scheduler_case():
    rng = np.random.default_rng(7)
    x = _data(rng, (30, 41, 23), np.float32)
    return x, (11, 13, 6)


def _reference_bits(x, chunks):
    d = da.from_array(x, chunks=chunks)
    return _fingerprint(dask.compute(*_all_ops(d), scheduler="sync"))


def test_threads_and_forked_processes_give_the_same_bits(small_blocks, scheduler_case):
    x, chunks = scheduler_case
    expected = _reference_bits(x, chunks)
    d = da.from_array(x, chunks=chunks)
    assert _fingerprint(dask.compute(*_all_ops(d), scheduler="threads", num_workers=3)) == expected
    assert K.sum(np.ones(1 << 21, np.float32)) == 1 << 21  # kcore's threads ran before the fork
    with dask.config.set({"multiprocessing.context": "fork"}):
        assert _fingerprint(dask.compute(*_all_ops(d), scheduler="processes", num_workers=2)) == expected


def test_a_local_cluster_gives_the_same_bits(cluster, scheduler_case, monkeypatch):
    x, chunks = scheduler_case
    monkeypatch.setattr(kd, "BLOCK_ELEMENTS", 300)  # (the graph is built here; workers need not know)
    monkeypatch.setattr(kd, "PIECE_ELEMENTS", 40)
    expected = _reference_bits(x, chunks)
    d = da.from_array(x, chunks=chunks)
    assert _fingerprint(cluster.compute(_all_ops(d), sync=True)) == expected


@kd.with_thread_budget
def _report(block):
    return np.array([[[kcore.get_num_threads(), kd.thread_budget(), _core.effective_num_threads()]]])


def _reports(d, **compute):
    out = d.map_blocks(_report, chunks=(1, 1, 3), dtype=np.int64).compute(**compute)
    return {tuple(r) for r in out.reshape(-1, 3)}


def test_the_thread_budget_inside_tasks(threads, cluster):
    threadpoolctl = pytest.importorskip("threadpoolctl")
    omp = [i["num_threads"] for i in threadpoolctl.threadpool_info() if i["user_api"] == "openmp"]
    if not _core.build_info()["openmp"] or min(omp, default=1) < 2:
        pytest.skip("needs OpenMP and at least 2 threads by default (kcore honours per-thread limits below that)")
    d = da.zeros((4, 1, 1), chunks=1)
    threads.set_num_threads(2)
    assert _reports(d, scheduler="sync") == {(2, 2, 2)}  # one task at a time: all of kcore's threads
    # The threaded scheduler: W is dask's num_workers setting (which sizes its pool), else the CPU count.
    for workers, budget in ((1, 2), (2, 1), (8, 1)):
        with dask.config.set(num_workers=workers):
            assert _reports(d, scheduler="threads") == {(2, budget, budget)}
    assert _core.effective_num_threads() == 2  # the caller's own limit is left as it was
    # distributed's nanny starts workers with OMP_NUM_THREADS=1: kcore has 1 thread there; a
    # worker of 1 thread whose kcore has 2 gives its one task both.
    assert _reports(d, scheduler=cluster) == {(1, 1, 1)}
    cluster.run(kcore.set_num_threads, 2)
    try:
        assert _reports(d, scheduler=cluster) == {(2, 2, 2)}
    finally:
        cluster.run(kcore.set_num_threads, 1)


# ---------------------------------------------------------------------------------------------
# Arguments


def test_numpy_inputs_become_dask_arrays(rng):
    x = _data(rng, (20, 30), np.float32)
    got = kd.sum(x, axis=0)
    assert isinstance(got, da.Array)
    np.testing.assert_array_equal(got.compute(), kd.sum(da.from_array(x, chunks=(3, 4)), axis=0).compute())
    assert kd.max([[1.0, 2.0], [3.0, 0.5]]).compute() == 3.0
    assert kd.max([[1.0, 2.0]]).dtype == np.float32  # Python floats become floatx, as in kcore


@pytest.mark.parametrize("bad", [None, "abc", {"a": 1}])
def test_non_arrays_are_rejected_naming_the_function(bad):
    with pytest.raises(TypeError, match=r"kcore\.dask\.sum: expected an array"):
        kd.sum(bad)
    with pytest.raises(TypeError, match=r"kcore\.dask\.cast: expected an array"):
        kd.cast(bad, "float32")


def test_argument_errors_name_the_function():
    d = da.ones((4, 5), chunks=2, dtype=np.float32)
    with pytest.raises(ValueError, match=r"kcore\.dask\.sum: axis 2 is out of bounds"):
        kd.sum(d, axis=2)
    with pytest.raises(ValueError, match=r"kcore\.dask\.cumsum: axis 3 is out of bounds"):
        kd.cumsum(d, axis=3)
    with pytest.raises(TypeError, match=r"kcore\.dask\.mean: keepdims"):
        kd.mean(d, keepdims="yes")
    with pytest.raises(TypeError, match=r"kcore\.dask\.sum: unsupported dtype complex128"):
        kd.sum(da.ones(3, dtype=np.complex128, chunks=2))
    with pytest.raises(TypeError, match=r"kcore\.dask\.var: needs float16, float32 or float64"):
        kd.var(da.ones(3, dtype=np.int32, chunks=2))
    with pytest.raises(ValueError, match=r"kcore\.dask\.sum: the input's chunk sizes are unknown"):
        kd.sum(d[d > 0])
    with pytest.raises(TypeError, match=r"kcore\.dask\.sum: split_every must be an int"):
        kd.sum(d, split_every=2.5)
    with pytest.raises(TypeError, match=r"kcore\.dask\.cast: unsupported dtype 'float128x'"):
        kd.cast(d, "float128x")
    with pytest.raises(TypeError, match=r"kcore\.dask\.relu: unexpected keyword argument 'beta'"):
        kd.relu(d, beta=1)


def test_importing_kcore_does_not_import_dask():
    code = "import sys, kcore, kcore.backend; print('dask' in sys.modules, 'kcore.dask' in sys.modules)"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                       env={**os.environ, "PYTHONWARNINGS": "error"})
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["False", "False"]


def test_the_dask_bench_runs_and_checks_its_results(monkeypatch, capsys):
    from kcore import bench, bench_dask

    monkeypatch.setattr(bench_dask, "SHAPE", (4, 64, 96))
    assert bench.main(["--dask", "--rounds", "1", "--threads", "1"]) == 0
    out = capsys.readouterr().out
    for case in ("sum", "var axis=0", "cast ->float32", "cast ->float16", "transpose 0,2,1", "(+rechunk)"):
        assert case in out
    assert "of 12 cases meet their target" in out
