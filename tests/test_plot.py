"""bmcourse.plot: what each figure draws, and clear errors for input it cannot draw."""
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from bmcourse.plot import plot_confusion, plot_history, show_images


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def drawn(fig, i=0):
    """The pixel array that axes ``i`` of ``fig`` shows."""
    return np.asarray(fig.axes[i].images[0].get_array())


def history(**columns):
    return {"epoch": [1, 2, 3], **columns}


# ---------------------------------------------------------------------------------- show_images

def test_show_images_grid_and_errors():
    fig = show_images(torch.rand(10, 1, 28, 28), titles=[str(i) for i in range(10)], ncols=5)
    assert len(fig.axes) == 10 and fig.axes[3].get_title() == "3"
    assert len(show_images(torch.rand(3, 3, 8, 8)).axes) == 3
    with pytest.raises(ValueError, match="one title per image"):
        show_images(torch.rand(2, 1, 4, 4), titles=["a"])
    with pytest.raises(ValueError, match="channels"):
        show_images(torch.rand(2, 5, 4, 4))


@pytest.mark.parametrize("to_array", [lambda t: t, lambda t: t.numpy()], ids=["tensor", "array"])
def test_channels_last_images_draw_like_channels_first(to_array):
    rgb = torch.rand(2, 3, 6, 5, generator=torch.Generator().manual_seed(0))
    expected = drawn(show_images(rgb), 1)
    assert expected.shape == (6, 5, 3)
    np.testing.assert_allclose(drawn(show_images(to_array(rgb.permute(0, 2, 3, 1))), 1), expected)
    grey = rgb[:, :1]
    np.testing.assert_allclose(drawn(show_images(to_array(grey.permute(0, 2, 3, 1)))),
                               drawn(show_images(grey)))


def test_uint8_pixels_are_scaled_to_the_unit_range():
    pixels = torch.tensor([[[0, 51], [204, 255]]], dtype=torch.uint8)  # (1, 2, 2)
    expected = np.array([[0.0, 0.2], [0.8, 1.0]])
    np.testing.assert_allclose(drawn(show_images(pixels)), expected)
    np.testing.assert_allclose(drawn(show_images(pixels[:, None].numpy())), expected)  # (1, 1, 2, 2)
    with pytest.raises(ValueError, match="scaled from 0..255 to \\[0, 1\\]"):
        show_images(pixels, vmax=255)


def test_ambiguous_layout_is_refused_for_arrays_and_read_as_pytorch_for_tensors():
    filters = torch.rand(4, 3, 3, 3, generator=torch.Generator().manual_seed(1))  # 3x3 RGB kernels
    # a tensor follows PyTorch's (N, C, H, W): pixel (h, w) of image 0 is filters[0, :, h, w]
    np.testing.assert_allclose(drawn(show_images(filters, vmin=None, vmax=None))[0, 2],
                               filters[0, :, 0, 2].numpy(), rtol=1e-6)
    with pytest.raises(ValueError, match=r"could be \(N, C, H, W\) or \(N, H, W, C\).*permute"):
        show_images(filters.numpy())


@pytest.mark.parametrize("images, error, message", [
    (torch.rand(4, 4), ValueError, r"images\[None\]"),
    (np.array([["a", "b"]]), TypeError, "must hold numbers"),
    ([np.zeros((2, 2)), np.zeros((3, 3))], ValueError, "equally sized"),
    (torch.rand(0, 4, 4), ValueError, "no images"),
])
def test_show_images_names_what_is_wrong_with_the_images(images, error, message):
    with pytest.raises(error, match=message):
        show_images(images)


@pytest.mark.parametrize("ncols", [0, -1, 2.5])
def test_show_images_needs_a_positive_column_count(ncols):
    with pytest.raises(ValueError, match="ncols"):
        show_images(torch.rand(3, 4, 4), ncols=ncols)


def test_show_images_takes_any_dtype_torch_has():
    fig = show_images(torch.rand(2, 4, 4).to(torch.bfloat16))  # NumPy has no bfloat16
    assert drawn(fig).shape == (4, 4)


# --------------------------------------------------------------------------------- plot_history

def test_plot_history_skips_missing_metrics():
    records = history(train_loss=[1.0, 0.5, 0.4], val_loss=[1.2, 0.6, 0.5],
                      train_acc=[float("nan")] * 3, val_acc=[float("nan")] * 3)
    fig = plot_history(records)
    assert len(fig.axes) == 1  # no finite accuracy: one panel
    assert [line.get_label() for line in fig.axes[0].lines] == ["train", "val"]
    np.testing.assert_allclose(fig.axes[0].lines[1].get_ydata(), [1.2, 0.6, 0.5])


def test_plot_history_takes_one_metric_name_as_a_string():
    fig = plot_history(history(train_acc=[0.5, 0.7, 0.8], train_loss=[1.0, 0.5, 0.4]), metrics="acc")
    assert len(fig.axes) == 1 and fig.axes[0].get_ylabel() == "accuracy"


@pytest.mark.parametrize("records, error, message", [
    ([0.5, 0.4], TypeError, "History that fit\\(\\) returns"),
    ({"train_loss": [1.0, 0.5]}, ValueError, "no 'epoch' list"),
    (history(train_loss=[1.0, 0.5]), ValueError, "has 2 values but history\\['epoch'\\] has 3"),
    (history(train_loss=[[1.0], [0.5], [0.4, 0.3]]), TypeError, "list of numbers"),
    (history(train_loss=np.ones((3, 2))), ValueError, "one number per epoch"),
    (history(val_loss=["low", "lower", "lowest"]), TypeError, "list of numbers"),
    (history(), ValueError, "no finite values"),
])
def test_plot_history_names_what_is_wrong_with_the_history(records, error, message):
    with pytest.raises(error, match=message):
        plot_history(records)


def test_plot_history_metric_names_must_be_strings():
    with pytest.raises(TypeError, match="metrics must be names"):
        plot_history(history(train_loss=[1.0, 0.5, 0.4]), metrics=[0])


# ------------------------------------------------------------------------------- plot_confusion

def test_plot_confusion_checks_shape():
    fig = plot_confusion(torch.tensor([[5, 1], [0, 4]]), classes=["cat", "dog"], normalize=True)
    assert fig.axes[0].get_xlabel() == "predicted"
    with pytest.raises(ValueError, match="square"):
        plot_confusion(torch.zeros(2, 3))


def cell_texts(fig):
    return [text.get_text() for text in fig.axes[0].texts]


def test_plot_confusion_shows_counts_fractions_and_any_class_labels():
    counts = np.array([[3, 1], [0, 0]])
    assert cell_texts(plot_confusion(counts)) == ["3", "1", "0", "0"]
    # an empty class keeps a row of zeros instead of dividing by zero
    assert cell_texts(plot_confusion(counts, normalize=True)) == ["0.75", "0.25", "0.00", "0.00"]
    # a matrix that is already fractions is not truncated to 0s
    assert cell_texts(plot_confusion(counts / 4)) == ["0.75", "0.25", "0.00", "0.00"]
    fig = plot_confusion(counts, classes=range(2))  # not strings: labels all the same
    assert [label.get_text() for label in fig.axes[0].get_xticklabels()] == ["0", "1"]


@pytest.mark.parametrize("matrix, kwargs, error, message", [
    (np.zeros((2, 2, 2)), {}, ValueError, "square"),
    (np.zeros((0, 0)), {}, ValueError, "K >= 1"),
    ([[1, -1], [0, 2]], {}, ValueError, "finite and >= 0"),
    ([[1, float("nan")], [0, 2]], {}, ValueError, "finite and >= 0"),
    ([["a", "b"], ["c", "d"]], {}, TypeError, "must hold numbers"),
    ([[1, 0], [0, 2]], {"classes": ["cat", "dog", "bird"]}, ValueError, "3 class names for a 2x2"),
])
def test_plot_confusion_names_what_is_wrong(matrix, kwargs, error, message):
    with pytest.raises(error, match=message):
        plot_confusion(matrix, **kwargs)
