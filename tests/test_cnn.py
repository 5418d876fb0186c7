import math

import pytest
import torch
from torch import nn

from bmcourse.data.mnist import load_mnist
from bmcourse.metrics import accuracy
from bmcourse.models import cnn
from bmcourse.models.cnn import (FastMNISTCNN, ShiftedBatches, layer_summary, mnist_classifier,
                                 random_shift, seed_cifar_cnn, seed_mnist_cnn, train_fast_cnn)
from bmcourse.train import count_parameters, predict


def conv_params(c_in, c_out, k, bias=True):
    return c_out * c_in * k * k + (c_out if bias else 0)


def linear_params(n_in, n_out):
    return n_out * n_in + n_out


@pytest.fixture(scope="module")
def mnist():
    return load_mnist(source="sample", verbose=False)


# ---------------------------------------------------------------------------- shapes and sizes

def test_seed_mnist_cnn_matches_the_keras_model():
    model = seed_mnist_cnn()
    # 28 -conv-> 26 -pool-> 13 -conv-> 11 -pool-> 5 -conv-> 3: a 64x3x3 map, 576 features
    expected = (conv_params(1, 32, 3) + conv_params(32, 64, 3) + conv_params(64, 64, 3)
                + linear_params(576, 64) + linear_params(64, 10))
    assert count_parameters(model) == expected == 93_322  # what Keras' summary() reports
    assert sum(isinstance(m, nn.Conv2d) for m in model.modules()) == 3
    assert model(torch.rand(5, 1, 28, 28)).shape == (5, 10)


def test_seed_cifar_cnn_matches_the_keras_model():
    model = seed_cifar_cnn()
    # 32 -> 30 -> 15 -> 13 -> 6 -> 4: a 64x4x4 map, 1024 features
    expected = (conv_params(3, 32, 3) + conv_params(32, 64, 3) + conv_params(64, 64, 3)
                + linear_params(1024, 64) + linear_params(64, 10))
    assert count_parameters(model) == expected == 122_570
    assert model(torch.rand(2, 3, 32, 32)).shape == (2, 10)


def test_seed_models_use_keras_initialisation():
    model = seed_mnist_cnn()
    for layer in (m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))):
        assert torch.all(layer.bias == 0)
        receptive = layer.weight[0, 0].numel() if layer.weight.ndim == 4 else 1
        fan_in, fan_out = layer.weight.shape[1] * receptive, layer.weight.shape[0] * receptive
        bound = math.sqrt(6 / (fan_in + fan_out))
        assert layer.weight.abs().max() <= bound
        assert layer.weight.abs().max() > 0.8 * bound  # uniform over the whole range


def test_fast_cnn_shapes_and_parameters():
    model = FastMNISTCNN()
    expected = (conv_params(1, 24, 5, bias=False) + 2 * 24 + conv_params(24, 32, 3, bias=False)
                + 2 * 32 + linear_params(800, 256) + linear_params(256, 10))
    assert count_parameters(model) == expected == 215_250
    x = torch.rand(4, 1, 28, 28)
    assert model(x).shape == (4, 10)
    assert model.features(x).shape == (4, 256)


def test_fast_cnn_rejects_flat_images_with_a_fix():
    with pytest.raises(ValueError, match=r"view\(-1, 1, 28, 28\)"):
        FastMNISTCNN()(torch.rand(4, 784))


# ---------------------------------------------------------------------------- layer summary

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


# ---------------------------------------------------------------------------- augmentation

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


def test_shifted_batches_visit_every_sample_once_per_epoch():
    x = torch.arange(10, dtype=torch.float32).view(10, 1, 1, 1).expand(10, 1, 3, 3).clone()
    y = torch.arange(10)
    batches = ShiftedBatches(x, y, batch_size=4, max_shift=0, seed=0)
    assert len(batches) == 3
    for _ in range(2):
        labels = torch.cat([yb for _, yb in batches])
        assert sorted(labels.tolist()) == list(range(10))
        images = torch.cat([xb for xb, _ in batches])
        assert images.shape == (10, 1, 3, 3)


# ---------------------------------------------------------------------------- training

def test_fast_cnn_learns_a_small_mnist_subset(mnist):
    # 1,000 training digits, 4 epochs: about a second of CPU. Seeds 0-2 end at 95.4-97.0%
    # on the 500 held-out digits here; 90% leaves room for other CPUs' rounding.
    small = type(mnist)(x_train=mnist.x_train[::4], y_train=mnist.y_train[::4],
                        x_test=mnist.x_test[::2], y_test=mnist.y_test[::2],
                        classes=mnist.classes, source="subset", name="MNIST")
    model, history = train_fast_cnn(small, epochs=4, batch_size=64, device="cpu", progress=False)
    assert len(history["epoch"]) == 4
    assert history["train_loss"][-1] < history["train_loss"][0]
    acc = accuracy(predict(model, small.x_test), small.y_test)
    assert acc == pytest.approx(history.last("val_acc"))
    assert acc >= 0.90


# ---------------------------------------------------------------------------- shared classifier

def test_shipped_classifier_is_small_verified_and_accurate(mnist):
    assert cnn.MNIST_CLASSIFIER_PATH.stat().st_size < 1_000_000
    model = mnist_classifier(device="cpu", verbose=False)
    assert model.info["weights"] == "shipped"
    assert not model.training
    assert not any(p.requires_grad for p in model.parameters())
    acc = accuracy(predict(model, mnist.x_test), mnist.y_test)
    assert acc >= 0.98
    if "sample" in model.info["data"]:  # then the recorded accuracy is on these very images
        assert acc == pytest.approx(model.info["test_acc"], abs=1e-6)


def test_classifier_with_a_wrong_hash_is_retrained(monkeypatch, mnist):
    calls = []

    def quick_train(data, **kwargs):
        calls.append(kwargs)
        small = type(data)(x_train=data.x_train[:256], y_train=data.y_train[:256],
                           x_test=data.x_test[:64], y_test=data.y_test[:64],
                           classes=data.classes, source="tiny", name="MNIST")
        return train_fast_cnn(small, epochs=1, device="cpu", progress=False)

    monkeypatch.setattr(cnn, "MNIST_CLASSIFIER_SHA256", "0" * 64)
    monkeypatch.setattr(cnn, "train_fast_cnn", quick_train)
    monkeypatch.setenv("BMCOURSE_OFFLINE", "1")
    with pytest.warns(UserWarning, match="SHA-256"):
        model = mnist_classifier(device="cpu", verbose=False)
    assert len(calls) == 1 and model.info["weights"] == "trained just now"
    assert model(mnist.x_test[:3]).shape == (3, 10)


def test_classifier_with_missing_weights_is_retrained(monkeypatch, tmp_path, mnist):
    def tiny_train(data, **kwargs):
        small = type(data)(x_train=data.x_train[:128], y_train=data.y_train[:128],
                           x_test=data.x_test[:32], y_test=data.y_test[:32],
                           classes=data.classes, source="tiny", name="MNIST")
        return train_fast_cnn(small, epochs=1, device="cpu", progress=False)

    monkeypatch.setattr(cnn, "MNIST_CLASSIFIER_PATH", tmp_path / "absent.pt")
    monkeypatch.setattr(cnn, "train_fast_cnn", tiny_train)
    monkeypatch.setenv("BMCOURSE_OFFLINE", "1")
    with pytest.warns(UserWarning, match="missing"):
        model = mnist_classifier(device="cpu", verbose=False)
    assert model.info["weights"] == "trained just now" and not model.training
