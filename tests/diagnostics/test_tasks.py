"""The long-memory tasks have the documented layout and statistics; the trainer learns and stops."""

import math

import numpy as np
import pytest

from rnnkit.diagnostics import (TaskConfig, adding_baseline, adding_batch, copy_baseline, copy_batch,
                                train_task)


@pytest.mark.parametrize("T", [2, 7, 50])
def test_adding_batch_marks_one_number_in_each_half_and_sums_them(T):
    x, y = adding_batch(500, T, rng=np.random.default_rng(0), dtype=np.float64)
    assert x.shape == (500, T, 2) and y.shape == (500,)
    marks = x[:, :, 1]
    assert set(np.unique(marks)) <= {0.0, 1.0}
    assert (marks[:, : T // 2].sum(axis=1) == 1).all() and (marks[:, T // 2 :].sum(axis=1) == 1).all()
    np.testing.assert_array_equal(y, (x[:, :, 0] * marks).sum(axis=1))
    assert ((x[:, :, 0] >= 0) & (x[:, :, 0] < 1)).all()


def test_adding_baseline_is_the_mse_of_always_answering_one():
    N = 200_000
    _, y = adding_batch(N, 10, rng=np.random.default_rng(1), dtype=np.float64)
    mse = float(((1.0 - y) ** 2).mean())
    # y - 1 is triangular on [-1, 1]: E (y-1)^2 = 1/6, E (y-1)^4 = 1/15, so the estimate's sd is:
    sd = math.sqrt((1 / 15 - 1 / 36) / N)
    assert adding_baseline() == pytest.approx(1 / 6)
    assert abs(mse - adding_baseline()) < 5 * sd


@pytest.mark.parametrize("T", [1, 5, 30])
def test_copy_batch_layout_and_memoryless_baseline(T):
    ids, targets = copy_batch(64, T, rng=np.random.default_rng(2))
    L = T + 20
    assert ids.shape == targets.shape == (64, L)
    data = ids[:, :10]
    assert ((data >= 1) & (data <= 8)).all()
    assert (ids[:, 10 : 9 + T] == 0).all() and (ids[:, 9 + T] == 9).all() and (ids[:, T + 10 :] == 0).all()
    assert (targets[:, : T + 10] == 0).all()
    np.testing.assert_array_equal(targets[:, -10:], data)
    # the memoryless strategy: blank with probability 1, then 1/8 for each data symbol
    p = np.zeros((64, L, 9))
    p[:, : T + 10, 0] = 1.0
    p[:, T + 10 :, 1:] = 1 / 8
    ce = -np.log(np.take_along_axis(p, targets[..., None], axis=-1)).mean()
    assert ce == pytest.approx(copy_baseline(T), rel=1e-12)
    assert copy_baseline(T) == pytest.approx(10 * math.log(8) / (T + 20))


def test_training_beats_the_baseline_on_a_short_adding_problem():
    config = TaskConfig(task="adding", T=8, cell="gru", hidden_size=16, batch_size=32, lr=1e-2, max_steps=300,
                        eval_batch_size=500, seed=0)
    result = train_task(config)
    assert result.steps == 300 and len(result.loss) == len(result.grad_norm) == 300
    assert result.final_loss < 0.3 * config.baseline


def test_copy_task_trains_and_stops_when_solved():
    config = TaskConfig(task="copy", T=3, cell="lstm", hidden_size=8, batch_size=4, max_steps=50,
                        stop_below=100.0, window=5, eval_batch_size=10)
    result = train_task(config)
    assert result.stopped == "solved" and result.solved_step == 5 and result.steps == 5
    assert result.final_loss > 0 and result.baseline == pytest.approx(copy_baseline(3))


def test_bad_settings_say_what_was_expected():
    with pytest.raises(ValueError, match="task must be one of"):
        TaskConfig(task="add")
    with pytest.raises(ValueError, match="forget_bias applies to the LSTM only"):
        train_task(TaskConfig(cell="gru", forget_bias=1.0, T=4, max_steps=1))
    with pytest.raises(ValueError, match="T to be an integer >= 2"):
        adding_batch(2, 1, rng=np.random.default_rng(0))
