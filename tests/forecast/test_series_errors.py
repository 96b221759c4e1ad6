"""Bad inputs get errors that say where the problem is and what to do."""

import numpy as np
import pandas as pd
import pytest

from rnnkit.data.series import SeriesError, as_frame, future_index, read_series_csv, season_length
from rnnkit.models.forecaster import Forecaster, ForecasterConfig


def daily(values, start="2022-01-01"):
    return pd.Series(values, index=pd.date_range(start, periods=len(values), freq="D"), name="y")


def test_missing_values_say_where_and_offer_interpolation():
    y = daily(np.arange(10.0))
    y.iloc[[3, 7]] = np.nan
    with pytest.raises(SeriesError, match=r"2 missing values.*2022-01-04.*2022-01-08.*interpolate=True"):
        as_frame(y)
    filled = as_frame(y, interpolate=True)
    assert np.allclose(filled["y"].to_numpy(), np.arange(10.0))  # linear in time recovers the line


def test_non_numeric_column_is_named():
    frame = pd.DataFrame({"y": [1.0, 2, 3], "shop": ["a", "b", "c"]}, index=pd.RangeIndex(3))
    with pytest.raises(SeriesError, match=r"column 'shop' is not numeric.*'a'.*--column"):
        as_frame(frame)


def test_duplicated_timestamps_are_listed():
    idx = pd.DatetimeIndex(["2022-01-01", "2022-01-02", "2022-01-02", "2022-01-03"])
    with pytest.raises(SeriesError, match=r"duplicated timestamps 2022-01-02.*groupby"):
        as_frame(pd.Series([1.0, 2, 3, 4], index=idx))


def test_irregular_timestamps_show_the_gap_and_the_fix():
    idx = pd.date_range("2022-01-01", periods=10, freq="D").delete(5)
    with pytest.raises(SeriesError, match=r"irregular.*1 days.*2022-01-05 00:00:00 -> 2022-01-07.*resample"):
        as_frame(pd.Series(np.arange(9.0), index=idx))
    with pytest.raises(SeriesError, match="irregular"):
        as_frame(pd.Series(np.arange(4.0), index=pd.Index([0, 1, 2, 4])))


def test_unsorted_and_unusable_indexes():
    with pytest.raises(SeriesError, match="sort_index"):
        as_frame(pd.Series([1.0, 2, 3], index=pd.Index([2, 1, 0])))
    with pytest.raises(SeriesError, match="DatetimeIndex or an integer index"):
        as_frame(pd.Series([1.0, 2], index=["a", "b"]))


def test_series_shorter_than_lookback_plus_horizon():
    with pytest.raises(SeriesError, match=r"has 20 steps, fewer than lookback \+ horizon = 16 \+ 8 = 24"):
        Forecaster(lookback=16, horizon=8, epochs=1).fit(np.arange(20.0))


def test_horizon_zero_is_refused_everywhere():
    with pytest.raises(ValueError, match="horizon must be an integer >= 1"):
        ForecasterConfig(horizon=0)
    fc = Forecaster(lookback=4, horizon=2, epochs=1, hidden_size=4).fit(np.sin(np.arange(30.0)))
    with pytest.raises(ValueError, match="horizon must be an integer >= 1"):
        fc.predict(0)
    with pytest.raises(ValueError, match="emits 2 steps, 5 were asked"):
        Forecaster(lookback=4, horizon=2, epochs=1, hidden_size=4, strategy="direct").fit(
            np.sin(np.arange(30.0))).predict(5)


def test_predict_before_fit():
    with pytest.raises(RuntimeError, match="call fit"):
        Forecaster().predict()


def test_csv_date_column_is_detected_or_named(tmp_path):
    path = tmp_path / "s.csv"
    pd.DataFrame({"when": pd.date_range("2022-01-01", periods=5, freq="MS").strftime("%Y-%m-%d"),
                  "sales": [1.0, 2, 3, 4, 5], "price": [9.0, 9, 8, 8, 7]}).to_csv(path, index=False)
    frame = read_series_csv(path, columns=["sales"])
    assert isinstance(frame.index, pd.DatetimeIndex) and list(frame.columns) == ["sales"]
    assert season_length(frame.index) == 12
    assert future_index(frame.index, 2).strftime("%Y-%m-%d").tolist() == ["2022-06-01", "2022-07-01"]
    assert list(read_series_csv(path, date_column="when").columns) == ["sales", "price"]
    with pytest.raises(SeriesError, match=r"no columns \['units'\]"):
        read_series_csv(path, columns=["units"])
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_series_csv(tmp_path / "nope.csv")
