import matplotlib

matplotlib.use("Agg")

import pytest
import torch

from bmcourse.files import atomic_write
from bmcourse.plot import plot_confusion, plot_history, show_images
from bmcourse.train import History


def test_atomic_write_keeps_old_file_on_failure(tmp_path):
    path = tmp_path / "out.bin"
    path.write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with atomic_write(path) as f:
            f.write(b"half")
            raise RuntimeError("disk full")
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.bin"]
    with atomic_write(path) as f:
        f.write(b"new")
    assert path.read_bytes() == b"new"


def test_show_images_grid_and_errors():
    fig = show_images(torch.rand(10, 1, 28, 28), titles=[str(i) for i in range(10)], ncols=5)
    assert len(fig.axes) == 10 and fig.axes[3].get_title() == "3"
    assert len(show_images(torch.rand(3, 3, 8, 8)).axes) == 3
    with pytest.raises(ValueError, match="one title per image"):
        show_images(torch.rand(2, 1, 4, 4), titles=["a"])
    with pytest.raises(ValueError, match="channels"):
        show_images(torch.rand(2, 5, 4, 4))


def test_plot_history_skips_missing_metrics():
    history = History()
    for epoch in (1, 2):
        history.append(epoch=epoch, train_loss=1.0 / epoch, val_loss=1.2 / epoch)
    fig = plot_history(history)
    assert len(fig.axes) == 1  # no accuracy recorded: one panel
    assert len(fig.axes[0].lines) == 2


def test_plot_confusion_checks_shape():
    fig = plot_confusion(torch.tensor([[5, 1], [0, 4]]), classes=["cat", "dog"], normalize=True)
    assert fig.axes[0].get_xlabel() == "predicted"
    with pytest.raises(ValueError, match="square"):
        plot_confusion(torch.zeros(2, 3))


def test_atomic_write_gives_normal_permissions(tmp_path):
    import os

    path = tmp_path / "shared.txt"
    with atomic_write(path, "w") as f:
        f.write("hello")
    mask = os.umask(0)
    os.umask(mask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~mask
