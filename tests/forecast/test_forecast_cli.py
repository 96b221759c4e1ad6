"""``rnnkit forecast`` through the real entry point."""

import numpy as np
import pandas as pd

from rnnkit.cli import main


def write_csv(path, n=120, *, gap_at=None):
    t = np.arange(n)
    values = 10 + np.sin(2 * np.pi * t / 7)
    if gap_at is not None:
        values[gap_at] = np.nan
    pd.DataFrame({"date": pd.date_range("2024-01-01", periods=n, freq="D").strftime("%Y-%m-%d"),
                  "visits": values, "store": "north"}).to_csv(path, index=False)


FAST = ["--epochs", "2", "--hidden", "8", "--folds", "1", "--baselines", "naive", "seasonal_naive"]


def test_forecast_csv_prints_tables_and_writes_csv_and_plots(tmp_path, capsys):
    src = tmp_path / "visits.csv"
    write_csv(src)
    out_csv, png, model = tmp_path / "f.csv", tmp_path / "f.png", tmp_path / "m.safetensors"
    code = main(["forecast", str(src), "--column", "visits", "--horizon", "5", "--plot", str(png),
                 "--output", str(out_csv), "--save", str(model), *FAST])
    text = capsys.readouterr().out
    assert code == 0
    assert "season 7" in text and "best by MASE" in text and "seasonal_naive" in text
    forecast = pd.read_csv(out_csv, index_col=0, parse_dates=True)
    assert forecast.index.strftime("%Y-%m-%d").tolist() == [f"2024-04-{d:02d}" for d in range(30, 31)] + \
        [f"2024-05-{d:02d}" for d in range(1, 5)]
    assert list(forecast.columns) == ["visits", "visits_lower_80", "visits_upper_80", "visits_lower_95",
                                      "visits_upper_95"]
    assert png.stat().st_size > 0 and (tmp_path / "f_backtest.png").stat().st_size > 0
    from rnnkit.models.forecaster import Forecaster

    pd.testing.assert_frame_equal(Forecaster.load(model).predict()[["visits"]], forecast[["visits"]],
                                  check_freq=False, check_index_type=False, rtol=1e-6)


def test_forecast_without_a_file_uses_a_shipped_series(capsys):
    code = main(["forecast", "--dataset", "nile", "--horizon", "3", "--folds", "0", "--epochs", "1",
                 "--hidden", "4"])
    text = capsys.readouterr().out
    assert code == 0 and "built-in series 'nile'" in text and "1971" in text  # the years after 1970


def test_forecast_errors_are_actionable(tmp_path, capsys):
    src = tmp_path / "gappy.csv"
    write_csv(src, gap_at=10)
    assert main(["forecast", str(src), "--column", "visits", *FAST]) == 2
    err = capsys.readouterr().err
    assert "missing values" in err and "2024-01-11" in err and "--interpolate" in err
    assert main(["forecast", str(src), "--column", "visits", "--interpolate", "--folds", "0", "--epochs", "1",
                 "--hidden", "4"]) == 0
    capsys.readouterr()
    assert main(["forecast", str(src), "--column", "store"]) == 2
    assert "not numeric" in capsys.readouterr().err
    assert main(["forecast", str(src), "--column", "visits", "--horizon", "0"]) == 2
    assert "horizon must be >= 1" in capsys.readouterr().err
    assert main(["forecast", str(src), "--column", "visits", "--horizon", "100", "--interpolate"]) == 2
    assert "fewer than lookback + horizon" in capsys.readouterr().err
