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
    got = {label: (ratios, goal) for label, ratios, goal, _ in plot_bench.series(runs)}
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
    assert cells == ["RNN (c) B64 / torch", "≤ 0.80", "4", "0.60", "0.78", "0.90", "", "2/4", "0.90 (r2), 0.86 (r4)"]
    reference = [c.strip() for c in lines[3].strip("|").split("|")]
    assert reference[1] == "(reference)" and reference[6:] == ["", "", ""]
    odd = plot_bench.table(runs[:3], ["r1", "r2", "r3"]).splitlines()[2]
    assert "| 0.70 |" in odd  # the median of three is the middle one


def test_series_and_table_carry_each_runs_interval_where_it_has_one():
    runs = [dict(rows=[row("RNN (c) B64 fwd+bwd", 0.9)]),
            dict(rows=[dict(row("RNN (c) B64 fwd+bwd", 0.85), ratio_interval=dict(torch=(0.81, 0.88)))])]
    (label, ratios, goal, bounds), = plot_bench.series(runs)
    assert bounds == [None, (0.81, 0.88)]
    runs.append(dict(rows=[dict(row("RNN (c) B64 fwd+bwd", 0.7), ratio_interval=dict(torch=(0.66, 0.79)))]))
    older = dict(row("RNN (c) B64 fwd+bwd", 0.95), samples_s=dict(rnnkit=[0.9, 0.95, 1.0], torch=[1.0, 1.0, 1.0]))
    (*_, bounds), = plot_bench.series([dict(rows=[older])])
    assert bounds == [pytest.approx((0.9, 1.0))]  # a run from before the intervals: from its samples
    cells = [c.strip() for c in plot_bench.table(runs, ["old", "new", "newer"]).splitlines()[2].strip("|").split("|")]
    assert cells[6] == "0.66-0.88"  # the lowest and highest bound of the runs that have one
    assert cells[-1] == "0.90 (old), 0.85 (new, 0.81-0.88)"


def test_spread_compares_the_runs_with_what_their_own_samples_predict():
    np = pytest.importorskip("numpy")
    rng = np.random.default_rng(1)

    def run(shift=1.0):
        a = np.exp(rng.normal(np.log(0.7), 0.1, 21)) * shift
        b = np.exp(rng.normal(0.0, 0.1, 21))
        return dict(rows=[dict(name="RNN (c) B64 fwd+bwd", samples_s=dict(rnnkit=list(a), torch=list(b)),
                               median_s=dict(rnnkit=float(np.median(a)), torch=float(np.median(b))))])

    same = [run() for _ in range(30)]
    (label, n, between, within, pooled, ahead), = plot_bench.spread(same)
    assert (label, n) == ("RNN (c) B64 / torch", 30)
    assert pooled == pytest.approx(0.7, rel=0.03)
    assert 0.6 < between / within < 1.6  # runs that differ only by their samples
    assert 0.6 < ahead / between < 1.6  # runs of 21 drawn from the pool move as far as these runs of 21
    (*_, ahead_7), = plot_bench.spread(same, repeats=7)
    assert ahead_7 > 1.3 * ahead  # and runs of seven farther (sqrt(3) times)
    shifted = [run(shift) for shift in (0.6, 1.5) * 15]  # runs that move by more than their samples say
    _, _, between, within, _, _ = plot_bench.spread(shifted)[0]
    assert between > 3 * within
    assert "| RNN (c) B64 / torch | 30 |" in plot_bench.spread_table(same)
