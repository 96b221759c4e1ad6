"""``benchmarks/bench.py``'s timing loop: round-robin medians, and the CPU time the hypervisor took."""

import importlib.util
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

_path = Path(__file__).resolve().parents[1] / "benchmarks" / "bench.py"
_spec = importlib.util.spec_from_file_location("bench", _path)
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)
sys.path.remove(str(_path.parent))  # bench.py puts its folder first for its own imports


def test_time_rows_reports_each_contestants_share_of_cpu_stolen(monkeypatch):
    clock = {"steal": 100.0}
    calls = {"a": 0, "b": 0}

    def contestant(name, stolen_per_call):
        def step():
            calls[name] += 1
            clock["steal"] += stolen_per_call
        return step

    monkeypatch.setattr(bench, "stolen_cpu_s", lambda: clock["steal"])
    monkeypatch.setattr(bench.os, "cpu_count", lambda: 2)
    times = iter(float(t) for t in range(10_000))
    monkeypatch.setattr(bench.time, "perf_counter", lambda: next(times))  # every timed run lasts 1 s
    monkeypatch.setattr(bench.time, "sleep", lambda s: None)
    rows = [dict(name="r", contestants={"rnnkit": contestant("a", 0.5), "torch": contestant("b", 0.0)}, inner=1)]
    bench.time_rows(rows, repeats=3, warmup=1)
    assert calls == {"a": 4, "b": 4}  # one warm-up call and three timed
    assert rows[0]["stolen"] == pytest.approx({"rnnkit": 0.25, "torch": 0.0})  # 0.5 s of 2 CPU-seconds
    assert rows[0]["stolen_s"] == pytest.approx({"rnnkit": 1.5, "torch": 0.0})  # over the three timed runs
    assert rows[0]["median_s"] == {"rnnkit": 1.0, "torch": 1.0}


def test_time_rows_leaves_stolen_empty_where_the_kernel_does_not_report_it(monkeypatch):
    monkeypatch.setattr(bench, "stolen_cpu_s", lambda: None)
    monkeypatch.setattr(bench.time, "sleep", lambda s: None)
    rows = [dict(name="r", contestants={"rnnkit": lambda: None, "torch": lambda: None}, inner=1)]
    bench.time_rows(rows, repeats=2, warmup=0)
    assert rows[0]["stolen"] is None and rows[0]["stolen_s"] is None


def test_stolen_cpu_s_reads_the_steal_field_of_proc_stat(monkeypatch):
    lines = {"stat": "cpu  7478134 40662 473096 6956815 35895 0 15365 172296 0 0\ncpu0 1 2 3\n"}
    monkeypatch.setattr(bench, "open", lambda path: io.StringIO(lines["stat"]), raising=False)
    monkeypatch.setattr(bench.os, "sysconf", lambda name: 100)
    assert bench.stolen_cpu_s() == pytest.approx(1722.96)  # the eighth number, in ticks of 1/100 s
    lines["stat"] = "cpu  1 2 3 4\n"  # a kernel that does not count steal
    assert bench.stolen_cpu_s() is None


def test_the_report_says_how_much_cpu_was_stolen_only_where_it_was_measured():
    assert bench.stolen_note({"stolen_share": None}) == ""
    assert bench.stolen_note({}) == ""
    assert "1.2% over the whole timing" in bench.stolen_note({"stolen_share": 0.012})


def test_ratio_interval_brackets_the_ratio_and_narrows_with_more_repeats():
    np = pytest.importorskip("numpy")
    rng = np.random.default_rng(0)
    widths = []
    for n in (7, 63):
        a = np.exp(rng.normal(np.log(0.8), 0.15, n))
        b = np.exp(rng.normal(0.0, 0.15, n))
        low, high = bench.ratio_interval(a, b)
        assert low < np.median(a) / np.median(b) < high
        widths.append(high - low)
    assert widths[1] < 0.6 * widths[0]  # ~sqrt(7/63) = 1/3 of the width, with room for the draw
    low, high = bench.ratio_interval([1.0, 1.0, 1.0], [2.0, 2.0, 2.0])
    assert low == high == 0.5


def _glibc() -> bool:
    try:
        return (os.confstr("CS_GNU_LIBC_VERSION") or "").startswith("glibc")
    except (AttributeError, ValueError, OSError):
        return False


@pytest.mark.skipif(not _glibc(), reason="glibc's mallopt only")
def test_raised_malloc_thresholds_keep_freed_memory_for_the_next_allocation():
    script = (
        "import importlib.util, resource, sys, numpy as np\n"
        f"spec = importlib.util.spec_from_file_location('bench', {str(_path)!r})\n"
        "bench = importlib.util.module_from_spec(spec); spec.loader.exec_module(bench)\n"
        "if sys.argv[1] == 'raised': assert bench.raise_malloc_thresholds(256)\n"
        "np.ones(10 << 20)\n"  # 80 MB, above glibc's largest dynamic threshold (32 MiB): mapped and unmapped
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt\n"
        "for _ in range(5): np.ones(10 << 20)\n"
        "print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 5)\n"
    )
    env = {**os.environ, "NUMPY_MADVISE_HUGEPAGE": "0"}  # 4 KiB pages, so that the count does not hang on THP
    faults = {how: float(subprocess.run([sys.executable, "-c", script, how], capture_output=True, text=True,
                                        check=True, env=env).stdout) for how in ("default", "raised")}
    assert faults["default"] > 10_000  # 80 MB in 4 KiB pages, faulted in at every allocation
    assert faults["raised"] < 100
