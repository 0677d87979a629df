"""The benchmark: the side-by-side protocol (what is timed, in which order), the case matrix,
PyTorch's forms of each case, and what `python -m kcore.bench` prints and returns."""
import pathlib
import re
import time

import numpy as np
import pytest

from kcore import bench

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _recording(log, name, seconds=0.0):
    def fn():
        log.append(name)
        if seconds:
            time.sleep(seconds)
    return fn


@pytest.fixture
def fixed_counts(monkeypatch):
    """Calls per timed batch, set per function (instead of calibrated)."""
    counts = {}
    monkeypatch.setattr(bench, "_calibrate", lambda fn, min_time: counts[fn])
    return counts


@pytest.fixture
def recorded(monkeypatch, fixed_counts):
    """(log, kfn, nfn, counts): kcore and NumPy stand-ins that log their calls, settle pauses
    logged instead of slept."""
    log = []
    monkeypatch.setattr(bench.time, "sleep", lambda s: log.append("settle"))
    return log, _recording(log, "k"), _recording(log, "n"), fixed_counts


def test_settled_batches_start_with_an_untimed_call(recorded):
    log, kfn, nfn, counts = recorded
    counts.update({kfn: 3, nfn: 2})
    bench.side_by_side(kfn, nfn, rounds=2, min_time=0.0, settle=0.15)
    one_round = ["settle", "k", "k", "k", "k", "n", "n", "n"]
    assert log == ["k", "n"] + one_round * 2


def test_single_call_batches_and_unsettled_cases_have_no_extra_call(recorded):
    log, kfn, nfn, counts = recorded
    counts.update({kfn: 1, nfn: 1})
    bench.side_by_side(kfn, nfn, rounds=2, min_time=0.0, settle=0.15)
    assert log == ["k", "n"] + ["settle", "k", "n"] * 2
    log.clear()
    counts.update({kfn: 2, nfn: 2})
    bench.side_by_side(kfn, nfn, rounds=1, min_time=0.0)
    assert log == ["k", "n", "k", "k", "n", "n"]


def test_ratio_is_numpy_time_over_kcore_time(monkeypatch, fixed_counts):
    # A clock that only the stand-ins advance: kcore's call takes 2 units, NumPy's 8.
    now = [0.0]
    monkeypatch.setattr(bench.time, "perf_counter", lambda: now[0])
    monkeypatch.setattr(bench.time, "sleep", lambda s: None)

    def ticking(seconds):
        def fn():
            now[0] += seconds
        return fn

    kfn, nfn = ticking(2.0), ticking(8.0)
    fixed_counts.update({kfn: 3, nfn: 2})
    tk, tn, ratio = bench.side_by_side(kfn, nfn, rounds=3, min_time=0.0, settle=0.15)
    assert (tk, tn, ratio) == (2.0, 8.0, 4.0)


def test_interleaved_skips_missing_columns_and_rates_against_kcore(monkeypatch):
    now = [0.0]
    monkeypatch.setattr(bench.time, "perf_counter", lambda: now[0])
    monkeypatch.setattr(bench, "_calibrate", lambda fn, min_time: 1)
    order = []

    def ticking(name, seconds):
        def fn():
            order.append(name)
            now[0] += seconds
        return fn

    times, ratios = bench.interleaved([ticking("k", 2.0), None, ticking("t", 3.0)], rounds=3, min_time=0.0)
    assert order == ["k", "t"] + ["k", "t"] * 3  # one untimed call each, then interleaved rounds
    assert times[0] == 2.0 and times[1] is None and times[2] == 3.0
    assert ratios[0] == 1.0 and ratios[1] != ratios[1] and ratios[2] == 1.5


def test_settled_rounds_settle_before_every_batch_but_numpys(recorded):
    # NumPy's batch follows kcore's, whose workers sleep at once; PyTorch's follows NumPy's BLAS.
    log, kfn, nfn, counts = recorded
    tfn = _recording(log, "t")
    counts.update({kfn: 2, nfn: 2, tfn: 2})
    bench.interleaved([kfn, nfn, tfn], rounds=1, min_time=0.0, settle=0.15)
    assert log == ["k", "n", "t"] + ["settle", "k", "k", "k", "n", "n", "n", "settle", "t", "t", "t"]


# --- the case matrix -----------------------------------------------------------------------------

def _names(argv, threads=None):
    args = bench.build_parser().parse_args(argv)
    cases, nn_cases = bench.select_cases(args, bench.thread_counts_of(args) if threads is None else list(threads))
    return [c.name for c in cases], [c.name for c in nn_cases]


def test_full_matrix_has_preprocessing_layouts():
    names, _ = _names(["--full"], threads=(1, 2))
    for t in (1, 2):
        for c in (1, 3, 4, 64):
            for dt in ("uint8", "float16", "float32"):
                assert f"permute0312-{dt}-32x224x224x{c}-C-t{t}" in names
                assert f"permute0231-{dt}-32x{c}x224x224-C-t{t}" in names
            for src in ("uint8", "int8", "int32"):
                for dst in ("float16", "float32", "float64"):
                    assert (f"cast-{src}->{dst}-32x224x224x{c}-C-t{t}" in names) == (c != 64)  # raw images
        for src in ("uint8", "int8", "int32"):  # and on the matrix's shapes, both orders
            assert f"cast-{src}->float32-4096x4096-T-t{t}" in names


def test_default_matrix_keeps_few_image_batch_cases():
    names, _ = _names([], threads=(2,))
    images = [n for n in names if "224x224" in n]
    assert sorted(images) == sorted(
        [f"permute0312-{dt}-32x224x224x3-C-t2" for dt in ("uint8", "float16", "float32")]
        + [f"permute0231-{dt}-32x3x224x224-C-t2" for dt in ("uint8", "float16", "float32")]
        + [f"cast-{p}-32x224x224x3-C-t2" for p in ("uint8->float16", "uint8->float32", "int8->float32",
                                                   "int32->float32")])


def test_dtype_and_shape_selection_reach_the_image_cases():
    names, _ = _names(["--families", "transpose,cast", "--dtypes", "uint8,float32", "--shapes", "32x224x224x64"],
                      threads=(1, 2))
    assert sorted(names) == sorted([f"permute0312-{dt}-32x224x224x64-C-t{t}" for dt in ("uint8", "float32")
                                    for t in (1, 2)])
    names, _ = _names(["--families", "cast", "--dtypes", "int8,float16", "--shapes", "32x224x224x4,32x4x224x224",
                       "--full"], threads=(2,))
    assert names == ["cast-int8->float16-32x224x224x4-C-t2"]


@pytest.fixture
def small_images(monkeypatch):
    """The image batches shrunk to 2x7x5 pixels (their names and layouts kept)."""
    for name, shape in list(bench.IMAGE_SHAPES.items()):
        small = (2, 7, 5, shape[3]) if name in bench.NHWC_SHAPES else (2, shape[1], 7, 5)
        monkeypatch.setitem(bench.IMAGE_SHAPES, name, small)
    monkeypatch.setattr(bench, "_INPUTS", {})


def test_image_cases_run_and_check_against_numpy(small_images):
    cases, _ = bench.select_cases(bench.build_parser().parse_args(
        ["--families", "transpose,cast", "--shapes", "32x224x224x3,32x4x224x224", "--full"]), [1])
    assert len(cases) == 3 + 9 + 3  # NHWC permutes, integer casts, NCHW permutes
    results = bench.run_cases(cases, 1, 0.0, {1: (10.0, 10.0)})
    assert [r.case for r in results] == cases
    assert all(r.t_kcore > 0 and r.t_numpy > 0 and r.in_cache is False for r in results)
    uint8 = bench.make_input("uint8", (2, 7, 5, 3))
    assert uint8.dtype == np.uint8 and uint8.min() < 64 and uint8.max() > 192  # the dtype's range


def test_a_wrong_result_fails_the_case(small_images, monkeypatch):
    case = bench.Case("transpose", "permute", "float32", "32x224x224x3", bench.TO_NCHW, "C", 1)
    monkeypatch.setattr(bench.K, "permute_dimensions", lambda x, pattern: np.ascontiguousarray(x.transpose(0, 3, 2, 1)))
    with pytest.raises(AssertionError, match="permute0312"):
        bench.run_cases([case], 1, 0.0, {1: (10.0, 10.0)})


# --- PyTorch's forms -----------------------------------------------------------------------------

def _case(family, op, dtype="float32", axis=None, shape_name="64x256x256"):
    return bench.Case(family, op, dtype, shape_name, axis, "C", 1)


def _torch_agrees(torch, case, x, nfn, y=None):
    got = bench.torch_case_fn(torch, case, x, y)()
    want = np.asarray(nfn())
    got = got.numpy()
    assert got.shape == want.shape, case
    assert got.dtype == want.dtype or case.family == "reduce", case  # (NumPy's any/all/argmax dtypes differ)
    assert np.allclose(got.astype(np.float64), want.astype(np.float64), rtol=1e-5, atol=1e-5), case


def test_torch_reductions_and_scans_compute_numpys_result():
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(0).uniform(0.5, 1.5, (4, 5, 6)).astype(np.float32)
    for op in bench.REDUCE_OPS + bench.SCAN_OPS:
        one_axis = op in bench.SCAN_OPS or op.startswith("arg")
        for axis in (0, -1) if one_axis else (None, 0, -1, (0, 2)):
            for data in (x, x.T):
                case = _case("scan" if op in bench.SCAN_OPS else "reduce", op, axis=axis)
                _torch_agrees(torch, case, data, bench.reduction_fns(case, data)[1])


def test_torch_layouts_compute_numpys_result():
    torch = pytest.importorskip("torch")
    for case in (_case("transpose", "transpose", shape_name="512x512"),
                 _case("transpose", "permute", axis=(2, 1, 0)),
                 _case("transpose", "permute", "uint8", bench.TO_NCHW, "32x224x224x3"),
                 _case("transpose", "permute", "float16", bench.TO_NHWC, "32x3x224x224"),
                 _case("cast", "cast", "uint8->float16", shape_name="32x224x224x3"),
                 _case("cast", "cast", "int32->float64", shape_name="32x224x224x3"),
                 _case("cast", "cast", "float32->float16", shape_name="512x512")):
        ndim = len(bench.SHAPES.get(case.shape_name) or bench.IMAGE_SHAPES[case.shape_name])
        x = bench.make_input(case.src_dtype, (3, 4, 5, 2)[:ndim])
        _torch_agrees(torch, case, x, bench.case_fns(case, x)[1])


def test_torch_products_compute_numpys_result():
    torch = pytest.importorskip("torch")
    for op, shape_name in (("batch_dot", "32x1x20x30"), ("batch_dot_keras_doc", "32x20x1.32x30x20"),
                           ("dot", "2x3.3x4")):
        case = bench.Case("dot", op, "float32", shape_name, None, "C", 1)
        x, y = bench.dot_inputs(case)
        _torch_agrees(torch, case, x, bench.dot_fns(case, x, y)[1], y)


# --- python -m kcore.bench -----------------------------------------------------------------------

# At the default thread count, where targets count.
TINY = ["--families", "reduce,transpose", "--ops", "sum", "--dtypes", "float32", "--shapes", "1e3,512x512",
        "--orders", "C", "--threads", "all", "--rounds", "1", "--min-time", "0"]


@pytest.fixture
def no_probe(monkeypatch):
    """The bandwidth probe (a 256 MiB buffer) replaced by fixed figures."""
    monkeypatch.setattr(bench, "measure_bandwidth", lambda threads: (20.0, 10.0))


def _targets_file(tmp_path, met):
    path = tmp_path / f"targets_{met}.py"
    if met:
        body = 'return [("every case was timed", f"{len(results)} cases", "all", all(r.t_kcore > 0 for r in results))]'
    else:
        body = 'return [("kcore takes no time", f"{min(r.t_kcore for r in results):.1e} s", "0 s", ' \
               'min(r.t_kcore for r in results) <= 0)]'
    path.write_text(f"def targets(results):\n    {body}\n")
    return str(path)


def test_each_row_is_printed_as_its_case_finishes(no_probe, monkeypatch, capsys):
    chunks = []  # what was printed before each case's timing
    timed = bench.interleaved

    def spy(*args, **kwargs):
        chunks.append(capsys.readouterr().out)
        return timed(*args, **kwargs)

    monkeypatch.setattr(bench, "interleaved", spy)
    assert bench.main(TINY) == 0
    chunks.append(capsys.readouterr().out)
    names, _ = _names(TINY)
    assert len(names) == 6 and len(chunks) == 7
    for i, name in enumerate(names):
        assert name in chunks[i + 1] and not any(name in c for c in chunks[:i + 1]), name
        assert f"{i + 1}/6 {'transpose' if 'transpose' in name else 'reduce'} " in chunks[i + 1]
    assert "speedups at " in chunks[-1]


def test_legend_explains_the_columns_before_the_rows(no_probe, capsys):
    assert bench.main(TINY) == 0
    out = capsys.readouterr().out
    head = out[:out.index("sum-float32-1e3")]
    assert "thread(s): read 20.0 GB/s, copy (read+write) 10.0 GB/s" in head
    for column in ("kcore, numpy:", "GB/s:", "%bw:", "c:"):
        assert f"  {column}" in head, column
    assert "; vs numpy: median over the rounds" in head
    assert "share of the memory bandwidth measured above" in head and "can pass 100%" in head
    cache = bench.cache_bytes()
    if cache:  # and the cache-resident rows carry the mark (the 512x512 case moves 2 MiB)
        assert f"({cache >> 20} MiB here)" in head
        assert any(line.rstrip().endswith("% c") for line in out.splitlines() if "512x512" in line)


def test_check_fails_on_a_missed_target_and_names_it(no_probe, tmp_path, capsys):
    assert bench.main(TINY + ["--targets", _targets_file(tmp_path, False), "--check"]) == 1
    captured = capsys.readouterr()
    assert "[MISSED] kcore takes no time" in captured.out
    assert "--check: 1 target(s) missed" in captured.err and "kcore takes no time" in captured.err


def test_check_passes_when_every_target_is_met(no_probe, tmp_path, capsys):
    assert bench.main(TINY + ["--targets", _targets_file(tmp_path, True), "--check"]) == 0
    captured = capsys.readouterr()
    assert "[ok] every case was timed: 6 cases" in captured.out and "missed" not in captured.err


def test_missed_targets_without_check_exit_0(no_probe, tmp_path, capsys):
    # The README's demo (`--targets bench/targets.py`, no --check) reports misses and succeeds.
    assert bench.main(TINY + ["--targets", _targets_file(tmp_path, False)]) == 0
    assert "1 target(s) missed at the default thread count (with --check" in capsys.readouterr().out
    assert bench.main(TINY + ["--targets", str(ROOT / "bench" / "targets.py")]) == 0


def test_check_needs_targets(capsys):
    with pytest.raises(SystemExit) as e:
        bench.main(TINY + ["--check"])
    assert e.value.code == 2 and "--check needs --targets" in capsys.readouterr().err


def test_torch_columns_and_summary(no_probe, monkeypatch, capsys):
    pytest.importorskip("torch")
    monkeypatch.setattr(bench, "BATCH_DOT_SHAPES", ((32, 1, 20, 30),))  # the small products, unsettled
    monkeypatch.setattr(bench, "DOT_SHAPES", (((2, 3), (3, 4)),))
    monkeypatch.setattr(bench, "BLAS_SETTLE_S", 0.0)
    monkeypatch.setattr(bench, "BLAS_MIN_TIME_S", 0.0)
    assert bench.main(TINY + ["--torch", "--families", "reduce,transpose,cast,dot,scan", "--dtypes", "float32,uint8",
                              "--ops", "sum,cumsum", "--shapes", "1e3"]) == 0
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if re.match(r"\s*\d+/\d+ ", line)]
    assert {line.split()[1] for line in rows} == {"reduce", "scan", "dot"}
    assert all(line.split()[6].endswith("x") for line in rows)  # every row has a vs torch ratio
    for family in ("reduce", "scan", "dot", "all"):
        line = next(ln for ln in out.splitlines() if ln.startswith(f"  {family} "))
        assert "vs NumPy" in line and "vs PyTorch" in line and "worst" in line
