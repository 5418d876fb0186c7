"""How much does keeping the data in tensors save over a DataLoader?

`bmcourse.training.fit` accepts either a pair of tensors (kept on the device, shuffled by index every
epoch) or any iterable of batches. This script trains the same small MLP on the same data for the
same number of epochs both ways, in one process, and prints the two times and their ratio. The
reference is the usual recipe: a shuffling `DataLoader` over a `TensorDataset`.

Run: `.venv/bin/python benchmarks/fit_data_path.py` (or `make benchmarks`).
"""
import time

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from bmcourse.training import fit

EPOCHS, N, BATCH = 3, 20_000, 64


def model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 64), nn.ReLU(), nn.Linear(64, 10))


def timed(train):
    net = model()
    start = time.perf_counter()
    history = fit(net, train, epochs=EPOCHS, batch_size=BATCH, progress=False,
                  optimizer=torch.optim.SGD(net.parameters(), lr=0.05))
    return time.perf_counter() - start, history["train_loss"][-1]


def main():
    generator = torch.Generator().manual_seed(0)
    x = torch.rand(N, 1, 28, 28, generator=generator)
    # labels from a fixed random linear map: learnable, so the final losses mean something
    y = (x.flatten(1) @ torch.randn(784, 10, generator=generator)).argmax(dim=1)
    timed((x[:1000], y[:1000]))  # warm-up: first calls allocate and pick kernels
    loader = DataLoader(TensorDataset(x, y), batch_size=BATCH, shuffle=True)
    reference_seconds, reference_loss = timed(loader)
    tensor_seconds, tensor_loss = timed((x, y))
    print(f"{EPOCHS} epochs of {N:,} samples, batch {BATCH}, threads {torch.get_num_threads()}")
    print(f"reference  DataLoader(TensorDataset) : {reference_seconds:6.2f} s  (final loss {reference_loss:.3f})")
    print(f"bmcourse   tensors shuffled by index : {tensor_seconds:6.2f} s  (final loss {tensor_loss:.3f})")
    print(f"speed-up: {reference_seconds / tensor_seconds:.2f}x")


if __name__ == "__main__":
    main()
