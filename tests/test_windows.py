"""Random-window batch source and the train/validation split."""
import pytest
import torch

from bmcourse.data.windows import TokenWindows, train_val_split


def test_split_is_contiguous_and_complete():
    text = "abcdefghijklmnopqrst"
    train, val = train_val_split(text, 0.1)
    assert train + val == text and len(val) == 2
    tokens = torch.arange(1000)
    train, val = train_val_split(tokens, 0.1)
    assert len(train) == 900 and torch.equal(torch.cat([train, val]), tokens)


def test_split_rejects_bad_fractions():
    with pytest.raises(ValueError, match="strictly between"):
        train_val_split("abcdef", 1.0)
    with pytest.raises(ValueError, match="too short"):
        train_val_split("abc", 0.1)


def test_random_windows_are_shifted_by_one_and_in_range():
    tokens = torch.arange(500) * 3
    windows = TokenWindows(tokens, block_size=16)
    batches = windows.batches(8, torch.Generator().manual_seed(0), "cpu")
    for _ in range(20):
        x, y = next(batches)
        assert x.shape == y.shape == (8, 16) and x.dtype == torch.long
        assert torch.equal(y, x + 3)  # each target is the next token
        assert x.min() >= 0 and y.max() <= 499 * 3


def test_random_windows_reach_every_start_and_repeat_with_the_seed():
    windows = TokenWindows(torch.arange(40), block_size=8)
    starts = set()
    batches = windows.batches(16, torch.Generator().manual_seed(1), "cpu")
    for _ in range(50):
        starts.update(next(batches)[0][:, 0].tolist())
    assert starts == set(range(40 - 8))  # the last window ends on the last token
    a = next(windows.batches(4, torch.Generator().manual_seed(3), "cpu"))[0]
    b = next(windows.batches(4, torch.Generator().manual_seed(3), "cpu"))[0]
    assert torch.equal(a, b)


def test_evaluation_pass_covers_each_prediction_once():
    windows = TokenWindows(torch.arange(103), block_size=10)
    pairs = list(windows.batches(4, None, "cpu"))
    assert [len(x) for x, _ in pairs] == [4, 4, 2] and windows.num_windows == 10
    assert windows.num_batches(4) == 3
    targets = torch.cat([y.flatten() for _, y in pairs])
    assert torch.equal(targets, torch.arange(1, 101))


def test_bad_input_is_explained():
    with pytest.raises(ValueError, match="too few"):
        TokenWindows(torch.arange(5), block_size=5)
    with pytest.raises(ValueError, match="block_size"):
        TokenWindows(torch.arange(5), block_size=0)
    with pytest.raises(ValueError, match="1-D"):
        TokenWindows(torch.zeros(3, 3), block_size=2)


def test_fit_trains_on_windows_and_lowers_the_loss():
    # The one training loop consumes the batch source; a bigram-able sequence is learned fast.
    from bmcourse import fit
    from bmcourse.training.recipes.gpt import next_token_loss

    torch.manual_seed(0)
    tokens = torch.tensor([0, 1, 2, 3, 4] * 200)
    model = torch.nn.Sequential(torch.nn.Embedding(5, 16), torch.nn.Linear(16, 5))
    history = fit(model, TokenWindows(tokens, 8), val=TokenWindows(tokens, 8), epochs=3,
                  steps_per_epoch=30, batch_size=16, loss_fn=next_token_loss, device="cpu",
                  optimizer=torch.optim.Adam(model.parameters(), lr=0.05), progress=False)
    assert history["val_loss"][-1] < 0.05 < history["val_loss"][0] or history["val_loss"][-1] < 0.05
    assert history["val_loss"][-1] < history["train_loss"][0]
