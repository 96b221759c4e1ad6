"""``benchmarks/plot_bench.py``, the picture of bench runs: each row judged against issue #3's goal."""

import importlib.util
from pathlib import Path

import pytest

pytest.importorskip("matplotlib")
_spec = importlib.util.spec_from_file_location(
    "plot_bench", Path(__file__).resolve().parents[1] / "benchmarks" / "plot_bench.py")
plot_bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(plot_bench)


def row(name, ratio, **extra):
    return dict(name=name, ratio=ratio, median_s=dict(rnnkit=ratio, torch=1.0, **extra))


def test_each_row_gets_its_goal_and_streaming_rows_a_second_against_onnxruntime():
    assert plot_bench.goal("LSTM (a) B20 T35 H650 L2 fwd+bwd") == 1.0
    assert plot_bench.goal("LSTM (d) B1 T1000 H128 L1 fwd+bwd") == 0.8  # a batch-1 row
    assert plot_bench.goal("GRU (c) B64 T100 H256 L1 fwd+bwd") == 0.8
    assert plot_bench.goal("LM train step (a) B20 T35 H650 L2 V10000") == pytest.approx(1 / 1.2)
    assert plot_bench.goal("textbook LSTM (a) B20 T35 H650 L2 fwd+bwd") is None
    runs = [dict(rows=[row("RNN (c) B64 fwd+bwd", r), row("streaming LSTM step B1 H256 (inference)", r / 10,
                                                         **{"onnxruntime(2t)": r / 5})]) for r in (0.7, 0.9)]
    got = {label: (ratios, goal) for label, ratios, goal in plot_bench.series(runs)}
    assert got["RNN (c) B64 / torch"] == ([0.7, 0.9], 0.8)
    assert got["streaming LSTM step B1 H256 / onnxruntime 2t"][0] == pytest.approx([0.5, 0.5])
    assert got["streaming LSTM step B1 H256 / onnxruntime 2t"][1] == 1.0


def test_plot_writes_a_png(tmp_path):
    env = dict(torch="2.13.0", date="2026-11-29 05:00:00", cpu="cpu", threads=2, blas="openblas")
    runs = [dict(env=env, rows=[row("LSTM (a) B20 fwd+bwd", 1.05), row("textbook LSTM (a) fwd+bwd", 2.5)])]
    out = tmp_path / "r.png"
    plot_bench.plot(runs, out, plot_bench.title_for(runs))
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_table_gives_each_rows_spread_over_the_runs_and_names_the_misses():
    runs = [dict(rows=[row("RNN (c) B64 fwd+bwd", r), row("textbook LSTM (a) fwd+bwd", 2 * r)])
            for r in (0.7, 0.9, 0.6, 0.86)]
    lines = plot_bench.table(runs, ["r1", "r2", "r3", "r4"]).splitlines()
    assert len(lines) == 4  # the header, its rule and one line per row
    cells = [c.strip() for c in lines[2].strip("|").split("|")]
    assert cells == ["RNN (c) B64 / torch", "≤ 0.80", "4", "0.60", "0.78", "0.90", "2/4", "0.90 (r2), 0.86 (r4)"]
    reference = [c.strip() for c in lines[3].strip("|").split("|")]
    assert reference[1] == "(reference)" and reference[6:] == ["", ""]
    odd = plot_bench.table(runs[:3], ["r1", "r2", "r3"]).splitlines()[2]
    assert "| 0.70 |" in odd  # the median of three is the middle one
