"""``rnnkit forecast``: fit a recurrent forecaster on a CSV series, forecast, backtest against baselines."""

from __future__ import annotations

import argparse
from pathlib import Path

EPILOG = """\
examples:
  rnnkit forecast                                   # Mauna Loa CO2 (ships with statsmodels), 12 months
  rnnkit forecast --dataset sunspots --plot sun.png
  rnnkit forecast sales.csv --column units --horizon 14 --plot f.png --output f.csv
  rnnkit forecast sales.csv --column units --date-column day --interpolate --save model.safetensors

The date column is found by name (date, time, ds, month, ...) or by its values, or named with
--date-column; without one the rows are numbered. The backtest refits the model on --folds rolling
origins and scores it beside naive, seasonal naive, ETS and ARIMA on the same folds.
"""


def register(sub) -> None:
    """Add ``rnnkit forecast`` to the ``rnnkit`` sub-command parser."""
    from ..data.series import CLASSICAL

    p = sub.add_parser("forecast", help="forecast a time series with an RNN/LSTM/GRU and backtest it",
                       description="Fit a recurrent forecaster, print the forecast with prediction intervals "
                                   "and a rolling-origin backtest against classical baselines.",
                       epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("series", nargs="?", help="CSV file (default: --dataset, a series shipped with statsmodels)")
    data = p.add_argument_group("data")
    data.add_argument("--column", action="append", help="value column (repeat for a multivariate series; "
                                                        "default: every numeric column)")
    data.add_argument("--date-column", help="column of time stamps (default: detected)")
    data.add_argument("--dataset", choices=sorted(CLASSICAL), default="co2", help="built-in series without a file")
    data.add_argument("--interpolate", action="store_true", help="fill missing values linearly in time")
    data.add_argument("--season", type=int, help="season length for seasonal naive and MASE (default: from "
                                                 "the frequency)")
    model = p.add_argument_group("model")
    model.add_argument("--horizon", type=int, help="steps to forecast (default: one season, or 10)")
    model.add_argument("--lookback", type=int, help="steps of context (default: 3 seasons or 2 horizons)")
    model.add_argument("--cell", choices=["rnn", "lstm", "gru"], default="lstm")
    model.add_argument("--hidden", type=int, default=32, help="hidden size")
    model.add_argument("--layers", type=int, default=1)
    model.add_argument("--strategy", choices=["direct", "recursive"], default="direct",
                       help="emit the horizon at once, or one step at a time fed back")
    model.add_argument("--normalize", choices=["window", "series"], default="window",
                       help="also remove each window's level (window) or only standardise each series")
    model.add_argument("--training", choices=["windows", "stateful"], default="windows",
                       help="random windows, or stateful truncated BPTT through the series (recursive only)")
    model.add_argument("--head", choices=["gaussian", "point"], default="gaussian")
    model.add_argument("--levels", type=float, nargs="+", default=[80.0, 95.0], help="interval levels (percent)")
    train = p.add_argument_group("training")
    train.add_argument("--epochs", type=int, default=30)
    train.add_argument("--lr", type=float, default=5e-3)
    train.add_argument("--batch-size", type=int, default=32)
    train.add_argument("--time-limit", type=float, help="seconds per fit")
    train.add_argument("--seed", type=int, default=0)
    out = p.add_argument_group("evaluation and output")
    out.add_argument("--folds", type=int, default=3, help="backtest origins (0: no backtest)")
    out.add_argument("--baselines", nargs="*", default=["naive", "seasonal_naive", "ets", "arima"])
    out.add_argument("--plot", metavar="PNG", help="forecast plot; the backtest plot goes beside it (*_backtest.png)")
    out.add_argument("--output", metavar="CSV", help="write the forecast (index, point, interval bounds)")
    out.add_argument("--save", metavar="FILE", help="save the fitted forecaster (.safetensors)")
    out.add_argument("--verbose", action="store_true", help="print the training loss per epoch")
    p.set_defaults(func=cmd_forecast)


def cmd_forecast(args: argparse.Namespace) -> int:
    from ..data.series import classical_series, read_series_csv, season_length
    from ..evaluation.backtest import backtest
    from ..models.forecaster import Forecaster, ForecasterConfig

    if args.horizon is not None and args.horizon < 1:
        raise ValueError(f"--horizon must be >= 1 (the number of steps to forecast), got {args.horizon}")
    if args.series is None:
        y, season = classical_series(args.dataset)
        frame = y.to_frame()
        source = f"built-in series '{args.dataset}' (statsmodels)"
    else:
        frame = read_series_csv(args.series, columns=args.column, date_column=args.date_column,
                                interpolate=args.interpolate)
        season = season_length(frame.index)
        source = f"'{args.series}'"
    season = args.season if args.season is not None else season
    horizon = args.horizon if args.horizon is not None else (season if season > 1 else 10)
    lookback = args.lookback if args.lookback is not None else max(3 * season, 2 * horizon)
    config = ForecasterConfig(cell=args.cell, hidden_size=args.hidden, num_layers=args.layers, lookback=lookback,
                              horizon=horizon, strategy=args.strategy, normalize=args.normalize,
                              training=args.training, head=args.head, levels=tuple(args.levels),
                              epochs=args.epochs, lr=args.lr, batch_size=args.batch_size,
                              time_limit=args.time_limit, seed=args.seed)
    print(f"series: {source}, {len(frame)} steps, columns {list(frame.columns)}, season {season}")
    print(f"model: {args.cell.upper()} hidden {args.hidden} x{args.layers}, lookback {lookback}, horizon {horizon}, "
          f"{args.strategy}, {args.head} head")
    fc = Forecaster(config).fit(frame, interpolate=args.interpolate, verbose=args.verbose)
    forecast = fc.predict(horizon)
    print(f"\nforecast (trained {fc.fit_seconds_:.1f} s):")
    print(forecast.to_string(float_format=lambda v: f"{v:.4g}"))
    if args.output:
        Path(args.output).parent.mkdir(parents=True, exist_ok=True)
        forecast.to_csv(args.output, index_label=frame.index.name or "index")
        print(f"wrote {args.output}")
    if args.save:
        print(f"saved {fc.save(args.save)}")
    result = None
    if args.folds > 0:
        result = backtest(frame, horizon=horizon, folds=args.folds, season=season, model_name=args.cell,
                          forecaster=lambda: Forecaster(config), baselines=args.baselines)
        print(f"\nbacktest: {args.folds} rolling origins, horizon {horizon}, season {season}")
        print(result.summary())
    if args.plot:
        from ..evaluation.plots import plot_backtest, plot_forecast

        path = Path(args.plot)
        plot_forecast(frame, forecast, path, tail=max(5 * horizon, 3 * season), title=source)
        print(f"wrote {path}")
        if result is not None:
            bt = path.with_name(f"{path.stem}_backtest{path.suffix or '.png'}")
            plot_backtest(result, bt, title=source)
            print(f"wrote {bt}")
    return 0
