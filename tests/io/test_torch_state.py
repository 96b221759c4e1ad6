"""State-dict interop without torch in the library: round trips both ways, clear errors."""

import numpy as np
import pytest
import torch
from _support import to_numpy_state_dict

from rnnkit import GRU, LSTM, RNN, load_torch_state_dict, to_torch_state_dict


@pytest.mark.parametrize("ours, theirs", [(lambda: LSTM(3, 5, num_layers=2, bidirectional=True, dtype=np.float64),
                                           lambda: torch.nn.LSTM(3, 5, num_layers=2, bidirectional=True, batch_first=True)),
                                          (lambda: GRU(3, 5, num_layers=2, dtype=np.float64),
                                           lambda: torch.nn.GRU(3, 5, num_layers=2, batch_first=True)),
                                          (lambda: RNN(3, 5, dtype=np.float64),
                                           lambda: torch.nn.RNN(3, 5, batch_first=True))])
def test_a_model_trained_in_rnnkit_runs_in_torch(ours, theirs):
    layer = ours()
    rng = np.random.default_rng(0)
    for _, p, _ in layer.named_parameters():  # weights no initialiser would give, as after training
        p[...] = rng.standard_normal(p.shape) * 0.3
    module = theirs().double()
    exported = to_torch_state_dict(layer)
    assert list(exported) == list(module.state_dict())
    module.load_state_dict({k: torch.from_numpy(v) for k, v in exported.items()})
    x = rng.standard_normal((2, 6, 3))
    y_ref, _ = module(torch.tensor(x))
    np.testing.assert_allclose(layer.forward(x)[0], y_ref.detach().numpy(), rtol=1e-12, atol=1e-12)
    again = ours()
    load_torch_state_dict(again, to_numpy_state_dict(module))
    np.testing.assert_allclose(again.forward(x)[0], layer.forward(x)[0], rtol=1e-12, atol=1e-14)


def test_mismatched_state_dict_names_the_keys():
    module = torch.nn.LSTM(3, 5, num_layers=1, batch_first=True)
    with pytest.raises(KeyError, match=r"missing \['bias_hh_l1', 'bias_ih_l1', 'weight_hh_l1', 'weight_ih_l1'\]"):
        load_torch_state_dict(LSTM(3, 5, num_layers=2), to_numpy_state_dict(module))
    with pytest.raises(ValueError, match=r"'weight_ih_l0': expected shape \(20, 4\), got \(20, 3\)"):
        load_torch_state_dict(LSTM(4, 5), to_numpy_state_dict(module))


def test_original_gru_is_refused_with_a_reason():
    with pytest.raises(ValueError, match="no PyTorch equivalent"):
        to_torch_state_dict(GRU(3, 4, reset="before"))
