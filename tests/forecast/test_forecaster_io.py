"""Save/load round trips in the safe checkpoint format."""

import numpy as np
import pandas as pd
import pytest

from rnnkit.io.checkpoint import CheckpointError, save_checkpoint
from rnnkit.models.forecaster import Forecaster


def series(n=120, freq="h"):
    t = np.arange(n)
    return pd.DataFrame({"a": np.sin(t / 3), "b": np.cos(t / 5)},
                        index=pd.date_range("2023-03-01", periods=n, freq=freq, tz="Europe/Paris"))


@pytest.mark.parametrize("strategy", ["direct", "recursive"])
def test_round_trip_gives_identical_forecasts(tmp_path, strategy):
    y = series()
    u = pd.DataFrame({"u": np.arange(130.0) % 7}, index=pd.date_range("2023-03-01", periods=130, freq="h",
                                                                     tz="Europe/Paris"))
    fc = Forecaster(strategy=strategy, hidden_size=8, lookback=12, horizon=5, epochs=2, n_samples=20,
                    dtype="float64").fit(y, covariates=u)
    path = fc.save(tmp_path / "fc.safetensors")
    loaded = Forecaster.load(path)
    assert loaded.config == fc.config
    a = fc.predict(rng=np.random.default_rng(1))
    b = loaded.predict(rng=np.random.default_rng(1))
    pd.testing.assert_frame_equal(a, b)
    assert b.index.tz is not None and b.index[0] == y.index[-1] + pd.Timedelta(hours=1)


def test_global_model_round_trip_keeps_names_and_integer_index(tmp_path):
    data = {"x": pd.Series(np.sin(np.arange(60.0)), name="x"), "z": pd.Series(np.cos(np.arange(70.0)), name="z")}
    fc = Forecaster(hidden_size=4, lookback=8, horizon=3, epochs=1, strategy="direct").fit(data)
    loaded = Forecaster.load(fc.save(tmp_path / "g.safetensors"))
    out, back = fc.predict(), loaded.predict()
    assert list(back) == ["x", "z"] and back["z"].index.tolist() == [70, 71, 72]
    for k in out:
        pd.testing.assert_frame_equal(out[k], back[k])


def test_loading_something_else_is_refused(tmp_path):
    path = save_checkpoint(tmp_path / "lm.safetensors", {"w": np.zeros(2)}, {"kind": "language-model"})
    with pytest.raises(CheckpointError, match="not a forecaster"):
        Forecaster.load(path)
    with pytest.raises(ValueError, match="fitted"):
        Forecaster().save(tmp_path / "x.safetensors")


def test_model_card_beside_the_checkpoint_and_version_check(tmp_path):
    import json

    from rnnkit.io.checkpoint import load_checkpoint

    fc = Forecaster(hidden_size=4, lookback=8, horizon=3, epochs=2).fit(series(60))
    path = fc.save(tmp_path / "fc.safetensors", metrics={"backtest_mase": 0.8})
    card = json.loads((tmp_path / "fc.card.json").read_text())
    assert card["kind"] == "forecaster" and card["forecaster_format_version"] == 1 and card["rnnkit_version"]
    assert card["architecture"]["cell"] == "lstm" and card["parameters"] == fc.net.num_parameters()
    assert card["scaling"]["series"]["columns"] == ["a", "b"]
    np.testing.assert_allclose(card["scaling"]["series"]["std"], fc.scaler_.std[0])
    data = card["training_data"]["series"][0]
    assert data["steps"] == 60 and data["frequency"] == "h" and data["start"].startswith("2023-03-01")
    assert card["training"]["epochs_run"] == 2 and card["metrics"] == {"backtest_mase": 0.8}

    arrays, meta = load_checkpoint(path)
    meta.update(forecaster_format_version=2, rnnkit_version="9.0")
    save_checkpoint(tmp_path / "future.safetensors", arrays, meta)
    with pytest.raises(CheckpointError, match=r"written by rnnkit 9.0 in forecaster format 2; .*upgrade rnnkit"):
        Forecaster.load(tmp_path / "future.safetensors")
    meta.update(forecaster_format_version="1")
    save_checkpoint(tmp_path / "odd.safetensors", arrays, meta)
    with pytest.raises(CheckpointError, match="forecaster format 1 and older: the file is not from a released"):
        Forecaster.load(tmp_path / "odd.safetensors")
