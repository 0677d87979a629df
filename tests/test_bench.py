"""The benchmark's side-by-side protocol: what is timed, in which order."""
import time

import pytest

from kcore import bench


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
    from kcore import bench_nn

    now = [0.0]
    monkeypatch.setattr(bench.time, "perf_counter", lambda: now[0])  # (bench_nn times with bench._timed)
    monkeypatch.setattr(bench_nn, "_calibrate", lambda fn, min_time: 1)
    order = []

    def ticking(name, seconds):
        def fn():
            order.append(name)
            now[0] += seconds
        return fn

    times, ratios = bench_nn.interleaved([ticking("k", 2.0), None, ticking("t", 3.0)], rounds=3, min_time=0.0)
    assert order == ["k", "t"] + ["k", "t"] * 3  # one untimed call each, then interleaved rounds
    assert times[0] == 2.0 and times[1] is None and times[2] == 3.0
    assert ratios[0] == 1.0 and ratios[1] != ratios[1] and ratios[2] == 1.5
