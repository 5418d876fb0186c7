"""Parameter counts and the per-layer table, checked against PyTorch and the gradient."""
import torch
from torch import nn

from bmcourse.models.cnn import seed_mnist_cnn
from bmcourse.sizing import count_parameters, layer_summary


def test_count_parameters_trainable_and_all():
    model = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2))
    assert count_parameters(model) == 3 * 4 + 4 + 4 * 2 + 2
    model[0].requires_grad_(False)
    assert count_parameters(model) == 4 * 2 + 2
    assert count_parameters(model, trainable_only=False) == 26


def test_layer_summary_counts_match_pytorch():
    model = seed_mnist_cnn()
    rows = layer_summary(model, (1, 28, 28), verbose=False)
    assert sum(r["params"] for r in rows) == count_parameters(model)
    x = torch.rand(1, 1, 28, 28)
    for row, layer in zip(rows, model):
        x = layer(x)
        assert row["output_shape"] == tuple(x.shape[1:])
    first = rows[0]  # 32 output maps of 26x26, each pixel a 1x3x3 dot product
    assert first["macs"] == 32 * 26 * 26 * 9


def test_layer_summary_receptive_field_matches_the_gradient():
    # The receptive field is the patch of input pixels an output pixel depends on: the
    # nonzero region of the gradient of that pixel with respect to the input. Average pooling
    # and positive weights keep every path alive (max pooling and ReLU would prune some).
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.AvgPool2d(2), nn.Conv2d(2, 2, 3), nn.AvgPool2d(2),
                          nn.Conv2d(2, 2, 3))  # the seed model's convolutions and poolings
    for p in model.parameters():
        nn.init.constant_(p, 0.1)
    rows = layer_summary(model, (1, 28, 28), verbose=False)
    x = torch.rand(1, 1, 28, 28, requires_grad=True)
    model(x)[0, 0, 1, 1].backward()
    hit = (x.grad[0, 0].abs() > 0).nonzero()
    sides = (hit.max(dim=0).values - hit.min(dim=0).values + 1).tolist()
    assert sides == [rows[-1]["receptive_field"]] * 2 == [18, 18]
