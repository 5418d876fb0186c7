import pytest
import torch

from bmcourse.metrics import accuracy, confusion_matrix


def test_accuracy_from_scores_and_from_labels_agree():
    scores = torch.tensor([[0.1, 0.9, 0.0], [2.0, -1.0, 0.5], [0.0, 0.2, 0.3], [1.0, 3.0, 2.0]])
    targets = torch.tensor([1, 0, 1, 2])
    # argmax per row is 1, 0, 2, 1: the first two are right
    assert accuracy(scores, targets) == pytest.approx(0.5)
    assert accuracy(scores.argmax(dim=1), targets) == pytest.approx(0.5)


def test_confusion_matrix_counts_true_rows_and_predicted_columns():
    targets = torch.tensor([0, 0, 1, 2, 2, 2])
    predicted = torch.tensor([0, 1, 1, 2, 0, 2])
    matrix = confusion_matrix(predicted, targets, num_classes=3)
    expected = torch.zeros(3, 3, dtype=torch.int64)
    for t, p in zip(targets.tolist(), predicted.tolist()):
        expected[t, p] += 1
    assert torch.equal(matrix, expected)
    assert matrix.sum(dim=1).tolist() == [2, 1, 3]  # samples per true class
    assert matrix.trace().item() / len(targets) == pytest.approx(accuracy(predicted, targets))


def test_confusion_matrix_takes_its_size_from_the_scores():
    scores = torch.randn(50, 7, generator=torch.Generator().manual_seed(0))
    targets = torch.randint(0, 7, (50,), generator=torch.Generator().manual_seed(1))
    matrix = confusion_matrix(scores, targets)
    assert matrix.shape == (7, 7) and matrix.sum().item() == 50


def test_bad_input_names_the_problem():
    with pytest.raises(ValueError, match="must match"):
        accuracy(torch.zeros(3, 2), torch.zeros(4, dtype=torch.long))
    with pytest.raises(ValueError, match="one-hot"):
        accuracy(torch.zeros(3, 2), torch.zeros(3, 2))
    with pytest.raises(ValueError, match="num_classes"):
        confusion_matrix(torch.tensor([0, 5]), torch.tensor([0, 1]), num_classes=3)
    with pytest.raises(ValueError, match="No samples"):
        accuracy(torch.zeros(0, 2), torch.zeros(0, dtype=torch.long))


@pytest.mark.parametrize("dtype, num_classes", [(torch.uint8, 20), (torch.int16, 200)])
def test_confusion_matrix_counts_compact_label_dtypes_without_overflow(dtype, num_classes):
    # true * K + predicted reaches K * K - 1 = 399 (uint8 holds 255) or 39,999 (int16 holds 32,767)
    g = torch.Generator().manual_seed(0)
    targets = torch.randint(0, num_classes, (500,), generator=g)
    predicted = torch.randint(0, num_classes, (500,), generator=g)
    targets[0], predicted[0] = num_classes - 1, num_classes - 1  # the largest flat index
    expected = confusion_matrix(predicted, targets, num_classes=num_classes)
    compact = confusion_matrix(predicted.to(dtype), targets.to(dtype), num_classes=num_classes)
    assert compact.dtype == torch.int64
    assert torch.equal(compact, expected)
    assert compact[num_classes - 1, num_classes - 1] >= 1
    assert accuracy(predicted.to(dtype), targets.to(dtype)) == pytest.approx(accuracy(predicted, targets))


@pytest.mark.parametrize("num_classes", [0, -2, 2.5, True])
def test_confusion_matrix_rejects_a_bad_num_classes(num_classes):
    with pytest.raises(ValueError, match="num_classes must be a positive whole number"):
        confusion_matrix(torch.tensor([0, 1]), torch.tensor([0, 1]), num_classes=num_classes)


def test_bits_per_character_agree_between_a_char_and_a_bpe_scoring_of_the_same_text():
    import math

    from bmcourse.metrics import bits_per_character

    # A text of 1,200 characters scored as 1,200 characters at 1.2 nats each, or as 400 BPE
    # tokens carrying the same total information (3.6 nats each): the same bits per character.
    char = bits_per_character(1.2, 1200, 1200)
    bpe = bits_per_character(3.6, 400, 1200)
    assert char == pytest.approx(bpe) == pytest.approx(1.2 / math.log(2))
    for bad in ((-0.1, 10, 10), (float("nan"), 10, 10), (1.0, 0, 10), (1.0, 10, 2.5)):
        with pytest.raises(ValueError, match="must be"):
            bits_per_character(*bad)
