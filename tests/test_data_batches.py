"""The one batch iterator and the shift augmentation that the training loop draws through."""
import pytest
import torch

from bmcourse.data.augment import random_shift, shift_augment
from bmcourse.data.batches import check_pair, num_batches, tensor_batches


def test_random_shift_moves_a_dot_by_at_most_max_shift():
    images = torch.zeros(200, 1, 12, 12)
    images[:, 0, 6, 6] = 1.0
    shifted = random_shift(images, max_shift=2, generator=torch.Generator().manual_seed(0))
    assert shifted.shape == images.shape
    assert torch.all(shifted.sum(dim=(1, 2, 3)) == 1.0)  # interior dot: nothing falls off
    where = shifted[:, 0].flatten(1).argmax(dim=1)
    rows, cols = where // 12, where % 12
    assert set(rows.tolist()) == {4, 5, 6, 7, 8} and set(cols.tolist()) == {4, 5, 6, 7, 8}
    assert torch.equal(random_shift(images, 0), images)


def test_random_shift_is_reproducible_and_rejects_bad_shifts():
    images = torch.rand(8, 3, 10, 10)
    a = random_shift(images, 1, torch.Generator().manual_seed(3))
    b = random_shift(images, 1, torch.Generator().manual_seed(3))
    assert torch.equal(a, b)
    with pytest.raises(ValueError, match="whole number"):
        random_shift(images, 1.5)


def test_tensor_batches_visit_every_sample_once_per_pass():
    x = torch.arange(10, dtype=torch.float32).view(10, 1, 1, 1).expand(10, 1, 3, 3).clone()
    y = torch.arange(10)
    generator = torch.Generator().manual_seed(0)
    orders = []
    for _ in range(2):
        batches = list(tensor_batches(x, y, 4, generator=generator))
        assert [len(yb) for _, yb in batches] == [4, 4, 2]
        labels = torch.cat([yb for _, yb in batches])
        assert sorted(labels.tolist()) == list(range(10))
        # every image still belongs to its label
        assert torch.equal(torch.cat([xb for xb, _ in batches])[:, 0, 1, 1], labels.float())
        orders.append(labels.tolist())
    assert orders[0] != orders[1]  # a new order each pass
    assert num_batches((x, y), 4) == 3


def test_tensor_batches_replay_exactly_from_a_saved_generator_state():
    x, y = torch.rand(20, 1, 6, 6), torch.arange(20)
    generator = torch.Generator().manual_seed(5)
    state = generator.get_state()
    first = list(tensor_batches(x, y, 8, generator=generator, augment=shift_augment(1)))
    generator.set_state(state)
    again = list(tensor_batches(x, y, 8, generator=generator, augment=shift_augment(1)))
    for (xa, ya), (xb, yb) in zip(first, again):
        assert torch.equal(xa, xb) and torch.equal(ya, yb)
    assert not torch.equal(first[0][0], x[first[0][1]])  # the shifts did change the images


@pytest.mark.parametrize("batch_size", [0, -3, 2.5, True, "8"])
def test_tensor_batches_reject_bad_batch_sizes(batch_size):
    with pytest.raises(ValueError, match="batch_size must be a whole number >= 1"):
        next(tensor_batches(torch.zeros(4, 1), torch.zeros(4), batch_size))


def test_check_pair_explains_numpy_mismatch_and_empty():
    np = pytest.importorskip("numpy")
    with pytest.raises(TypeError, match="torch.from_numpy"):
        check_pair((np.zeros((4, 2)), np.zeros(4)), "train")
    with pytest.raises(ValueError, match="must match"):
        check_pair((torch.zeros(4, 2), torch.zeros(3)), "train")
    with pytest.raises(ValueError, match="empty"):
        check_pair((torch.zeros(0, 2), torch.zeros(0)), "train")
    assert check_pair([torch.zeros(2, 1)] * 3, "train") is None  # not a pair: a list of batches


def test_shift_augment_validates_at_once():
    with pytest.raises(ValueError, match="whole number"):
        shift_augment(-1)
