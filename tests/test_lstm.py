"""The seed's LSTM generator, done right: vocabulary-sized embedding and projection."""
import pytest
import torch

from bmcourse.models.lstm import LSTMLanguageModel


def model(seed=0, **kw):
    torch.manual_seed(seed)
    return LSTMLanguageModel(vocab_size=13, n_embd=8, hidden_size=16, n_layer=2, **kw).eval()


def test_logits_cover_the_vocabulary_at_every_position():
    assert model()(torch.randint(13, (4, 9))).shape == (4, 9, 13)


def test_parameter_count_matches_the_closed_form():
    V, E, H = 13, 8, 16
    lstm_layer = lambda n_in: 4 * H * (n_in + H) + 2 * 4 * H  # four gates, two bias vectors
    expected = V * E + lstm_layer(E) + lstm_layer(H) + H * V + V
    assert sum(p.numel() for p in model().parameters()) == expected


def test_state_continues_a_sequence_exactly():
    m = model()
    x = torch.randint(13, (2, 10))
    full = m(x)
    first, state = m(x[:, :4], return_state=True)
    rest = m(x[:, 4:], state)
    torch.testing.assert_close(torch.cat([first, rest], dim=1), full)


def test_causal_a_future_token_never_changes_an_earlier_logit():
    m = model()
    x = torch.randint(13, (1, 10))
    y = x.clone()
    y[0, 6:] = (y[0, 6:] + 1) % 13
    assert torch.equal(m(x)[:, :6], m(y)[:, :6])


def test_greedy_generation_matches_a_full_forward():
    m = model()
    out = m.generate(torch.tensor([[1, 2, 3]]), 5, temperature=0)
    assert out.shape == (1, 8)
    for t in range(3, 8):
        assert out[0, t] == m(out[:, :t])[0, -1].argmax()


def test_bad_input_is_explained():
    with pytest.raises(ValueError, match="vocab_size"):
        LSTMLanguageModel(vocab_size=0)
    with pytest.raises(ValueError, match="lie in 0..12"):
        model()(torch.tensor([[13]]))
