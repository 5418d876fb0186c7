"""What compression buys on a CPU: int8 size, quality and latency; and what sparsity does not buy.

In one process, on the same data:

1. **Dynamic int8 quantization** of an MLP classifier trained here on the bundled MNIST, and of
   the shipped character-level GPT: size of the saved state dict, held-out accuracy or
   validation loss, and CPU latency, for float32 (the reference), PyTorch's
   ``quantize_dynamic`` (int8 weights and int8 matrix kernels) and ours
   (:func:`bmcourse.compress.quantize_linears`: the same int8 weights, float inputs). Targets:
   int8 at least 3.5x smaller on disk, accuracy down by at most 0.5 points.
2. **Unstructured sparsity** in a dense kernel: a matrix product and a convolution with 90% of
   the weights zero take as long as with none; a sparse CSR product is the contrast.

Latencies are the fastest of repeated calls taken in turns (see
:func:`bmcourse.compress.time_calls`): compare the rows with each other, not with another run's.

Usage::

    python benchmarks/compression.py [--threads 1] [--repeats 30]
"""
from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F

from bmcourse import compress
from bmcourse.data.mnist import load_mnist
from bmcourse.models.gpt import shakespeare_char_gpt
from bmcourse.models.mlp import mnist_mlp
from bmcourse.runtime import seed_everything
from bmcourse.training import evaluate, fit
from bmcourse.training.recipes.gpt import char_data, next_token_loss


def table(rows: list[dict], columns: list[tuple[str, str, str]]) -> None:
    """Print ``rows`` right-aligned; each column is (title, key, format spec)."""
    cells = [[format(row[key], spec) for _, key, spec in columns] for row in rows]
    widths = [max(len(title), *(len(line[i]) for line in cells))
              for i, (title, _, _) in enumerate(columns)]
    print("  ".join(title.rjust(w) for (title, _, _), w in zip(columns, widths)))
    for line in cells:
        print("  ".join(cell.rjust(w) for cell, w in zip(line, widths)))


def quantization_table(models: dict, score, score_title: str, inputs: dict,
                       repeats: int, threads: int) -> None:
    """Size, quality and latency of each model (float32 first: the reference), as a table.

    ``inputs`` maps a column title to the input batch whose latency it shows.
    """
    reference = compress.saved_bytes(models["float32"])
    rows = [dict(model=name, kb=compress.saved_bytes(m) / 1e3,
                 ratio=reference / compress.saved_bytes(m), score=score(m))
            for name, m in models.items()]
    columns = [("model", "model", "s"), ("size kB", "kb", ".1f"), ("smaller", "ratio", ".2f"),
               (score_title, "score", ".4f" if "loss" in score_title else ".1f")]
    for title, x in inputs.items():
        seconds = compress.time_calls({name: (lambda m=m: m(x)) for name, m in models.items()},
                                          repeats=repeats, threads=threads)
        for row in rows:
            row[title] = seconds[row["model"]] * 1e3
        columns.append((title, title, ".3f"))
    table(rows, columns)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads (1 is the steadiest on a shared machine)")
    parser.add_argument("--repeats", type=int, default=30, help="timed calls per model")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU thread(s), "
          f"quantized engine {torch.backends.quantized.engine}")

    # -- 1a: an MLP on the bundled MNIST
    data = load_mnist()
    seed_everything(0)
    mlp = mnist_mlp()
    fit(mlp, (data.x_train, data.y_train), epochs=8, device="cpu", progress=False, seed=0)
    mlp.eval()
    models = {"float32": mlp, "torch.ao int8": compress.torch_dynamic_int8(mlp),
              "ours int8": compress.quantize_linears(mlp)}
    test = (data.x_test, data.y_test)
    print(f"\nMLP 784-256-256-10 trained here; accuracy on the {len(data.y_test):,} held-out "
          "digits; latency in ms (fastest of the repeats):")
    quantization_table(models, lambda m: 100 * evaluate(m, test)["acc"], "accuracy %",
                       {"1 image": data.x_test[:1], "64 images": data.x_test[:64]},
                       args.repeats, args.threads)

    # -- 1b: the shipped character-level GPT
    gpt, _ = shakespeare_char_gpt(device="cpu")
    _, _, val = char_data(gpt.config.block_size)
    models = {"float32": gpt, "torch.ao int8": compress.torch_dynamic_int8(gpt),
              "ours int8": compress.quantize_linears(gpt)}
    print(f"\nShipped char GPT ({gpt.num_parameters():,} parameters); validation loss "
          f"(nats/char) on all {len(val.tokens):,} validation characters; latency in ms "
          "(fastest of the repeats):")
    windows = val.tokens[:16 * 64].long().view(16, 64)
    quantization_table(models, lambda m: evaluate(m, val, next_token_loss)["loss"],
                       "val loss", {"1 x 64 chars": windows[:1], "16 x 64 chars": windows},
                       args.repeats, args.threads)

    # -- 2: zeros in a dense kernel
    print("\nx @ W.T, W 1024 x 1024, x 256 x 1024 (ms, fastest of the repeats):")
    matmul = compress.dense_kernel_timing(repeats=args.repeats, threads=args.threads)
    for name, seconds in matmul.items():
        print(f"  {name:>20}  {seconds * 1e3:7.3f}")
    generator = torch.Generator().manual_seed(0)
    images = torch.randn(64, 32, 28, 28, generator=generator)
    kernel = torch.randn(64, 32, 3, 3, generator=generator)
    threshold = kernel.abs().flatten().kthvalue(int(0.9 * kernel.numel())).values
    sparse_kernel = torch.where(kernel.abs() <= threshold, 0.0, kernel)
    seconds = compress.time_calls(
        {"dense": lambda: F.conv2d(images, kernel, padding=1),
         "dense, 90% zeros": lambda: F.conv2d(images, sparse_kernel, padding=1)},
        repeats=args.repeats, threads=args.threads)
    print("conv2d 32 -> 64 channels, 3x3, 64 images of 28 x 28 (ms, fastest of the repeats):")
    for name, value in seconds.items():
        print(f"  {name:>20}  {value * 1e3:7.3f}")
    print(f"\n({time.perf_counter() - start:.0f} s in all)")


if __name__ == "__main__":
    main()
