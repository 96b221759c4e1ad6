"""M4 Hourly with one global rnnkit forecaster: 414 series, horizon 48, official sMAPE and MASE.

    python benchmarks/m4_hourly.py --data ../shared/data/m4 --time-limit 540

Reads ``Hourly-train.csv`` / ``Hourly-test.csv`` from ``--data`` (never copied into the repository),
trains ONE direct LSTM/GRU across all series (windows of lookback + 48 hours), forecasts the 48 test
hours of every series and scores them as the competition did:

    sMAPE = mean over series of 200/h * sum |y - f| / (|y| + |f|)
    MASE  = mean over series of  (1/h) sum |y - f|  /  mean_t |y_t - y_{t-24}| (in-sample)

Seasonal naive (the last 24 hours repeated) is computed on the same data as a check against the
published 13.912. Each series is log-transformed (all M4 values are positive), its 24-hour seasonal
profile (the last 14 days, classical decomposition; ``--deseasonalize 0`` keeps it) is removed and
added back to the forecast, it is standardised on its own training part, and each window's context
mean is subtracted (a local level) — an additive version, in logs, of the per-series level and
seasonality normalisation that ES-RNN (the winner) applies.
The result is appended to ``benchmarks/results/m4_hourly.md`` with the command and wall time.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # tiny matrices: threads only contend

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

PUBLISHED = {"seasonal naive (Naive2 family), published": 13.912, "organisers' RNN benchmark": 14.698,
             "winner (ES-RNN, Smyl)": 9.328}
H, SEASON = 48, 24


def read_m4(path: Path) -> list[np.ndarray]:
    import pandas as pd

    frame = pd.read_csv(path)
    return [row[~np.isnan(row)] for row in frame.drop(columns=frame.columns[0]).to_numpy(dtype=np.float64)]


def seasonal_profile(y: np.ndarray, period: int, periods: int) -> np.ndarray:
    """Additive profile (in logs: multiplicative) of the last ``periods`` full periods of ``y``, indexed
    by position mod ``period``: the mean of each phase minus the overall mean (classical decomposition,
    as M4's Naive2 and Theta benchmarks deseasonalise)."""
    k = min(periods, len(y) // period)
    tail = y[len(y) - k * period:]
    by_phase = tail.reshape(k, period).mean(axis=0) - tail.mean()
    # tail[0] sits at position len(y) - k*period; re-index by absolute position mod period
    return np.roll(by_phase, (len(y) - k * period) % period)


def scores(train: list[np.ndarray], test: list[np.ndarray], pred: list[np.ndarray]) -> tuple[float, float]:
    smapes, mases = [], []
    for y_in, y, f in zip(train, test, pred):
        smapes.append(np.mean(200 * np.abs(y - f) / (np.abs(y) + np.abs(f))))
        scale = np.mean(np.abs(y_in[SEASON:] - y_in[:-SEASON]))
        mases.append(np.mean(np.abs(y - f)) / scale)
    return float(np.mean(smapes)), float(np.mean(mases))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, help="folder with Hourly-train.csv and Hourly-test.csv")
    p.add_argument("--cell", default="lstm", choices=["rnn", "lstm", "gru"])
    p.add_argument("--hidden", type=int, default=64)
    p.add_argument("--lookback", type=int, default=168)
    p.add_argument("--epochs", type=int, default=100)
    p.add_argument("--steps-per-epoch", type=int, default=50)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--head", default="point", choices=["point", "gaussian"])
    p.add_argument("--time-limit", type=float, default=600.0, help="seconds of training")
    p.add_argument("--no-log", action="store_true", help="skip the log transform")
    p.add_argument("--deseasonalize", type=int, default=24, metavar="PERIOD",
                   help="subtract each series' PERIOD-hour profile (of its last 14 periods, in logs) before "
                        "training and add it back to the forecast (0: off; 24: daily; 168: weekly)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=str(Path(__file__).parent / "results" / "m4_hourly.md"))
    args = p.parse_args(argv)

    from rnnkit.models.forecaster import Forecaster

    start = time.perf_counter()
    data = Path(args.data)
    train, test = read_m4(data / "Hourly-train.csv"), read_m4(data / "Hourly-test.csv")
    assert len(train) == len(test) == 414 and all(len(t) == H for t in test)
    snaive = [np.tile(y[-SEASON:], H // SEASON) for y in train]
    s_smape, s_mase = scores(train, test, snaive)
    print(f"seasonal naive (ours): sMAPE {s_smape:.3f}  MASE {s_mase:.3f}", flush=True)

    log = not args.no_log
    series = [np.log(y) if log else y for y in train]
    P = args.deseasonalize
    profiles = [seasonal_profile(s, P, 14) if P else None for s in series]
    if P:
        series = [s - prof[np.arange(len(s)) % P] for s, prof in zip(series, profiles)]
    fc = Forecaster(cell=args.cell, hidden_size=args.hidden, lookback=args.lookback, horizon=H, strategy="direct",
                    normalize="window", head=args.head, epochs=args.epochs, steps_per_epoch=args.steps_per_epoch,
                    batch_size=args.batch_size, lr=args.lr, time_limit=args.time_limit, seed=args.seed)
    fc.fit([s for s in series], verbose=True)
    out = fc.predict()
    pred = [o.iloc[:, 0].to_numpy() for o in out]
    if P:
        pred = [f + prof[np.arange(len(y), len(y) + H) % P] for f, prof, y in zip(pred, profiles, train)]
    pred = [np.exp(f) if log else f for f in pred]
    m_smape, m_mase = scores(train, test, pred)
    wall = time.perf_counter() - start
    epochs = len(fc.history_)
    print(f"rnnkit {args.cell}: sMAPE {m_smape:.3f}  MASE {m_mase:.3f}  ({epochs} epochs, train {fc.fit_seconds_:.0f} s, "
          f"wall {wall:.0f} s)")
    command = "python benchmarks/m4_hourly.py " + " ".join(sys.argv[1:] if argv is None else argv)
    lines = [f"\n## {time.strftime('%Y-%m-%d %H:%M')}  `{command}`\n",
             f"- model: one global direct {args.cell.upper()} (hidden {args.hidden}, lookback {args.lookback}, "
             f"{args.head} head), log={log}, window-level normalisation, "
             f"{f'{P}-hour seasonal profile removed' if P else 'no deseasonalisation'}; {epochs} epochs x "
             f"{args.steps_per_epoch} steps x batch {args.batch_size}, training {fc.fit_seconds_:.0f} s; wall {wall:.0f} s",
             "", "| method | sMAPE | MASE |", "| --- | ---: | ---: |",
             f"| rnnkit {args.cell.upper()} (this run) | {m_smape:.3f} | {m_mase:.3f} |",
             f"| seasonal naive (this script, same data) | {s_smape:.3f} | {s_mase:.3f} |"]
    lines += [f"| {k} | {v:.3f} | |" for k, v in PUBLISHED.items()]
    out_path = Path(args.out)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with out_path.open("a", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    print(f"appended to {out_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
