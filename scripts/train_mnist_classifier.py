"""Train the MNIST classifier that bmcourse ships, and print the SHA-256 to record for it.

``bmcourse.models.cnn.mnist_classifier()`` loads ``bmcourse/models/weights/mnist_cnn.pt``
only if its SHA-256 equals ``MNIST_CLASSIFIER_SHA256`` in ``bmcourse/models/cnn.py``. After
running this script, paste the printed hash there.

Usage::

    python scripts/train_mnist_classifier.py                 # full MNIST if it can be had, else the sample
    python scripts/train_mnist_classifier.py --source sample # always the bundled sample

The checkpoint holds the model's state dict (float32, about 0.87 MB) and a small dict
describing the training data and the held-out accuracy; both load with
``torch.load(..., weights_only=True)``.
"""
from __future__ import annotations

import argparse
from pathlib import Path


from bmcourse.files import sha256_of
from bmcourse.data.mnist import load_mnist
from bmcourse.models.cnn import MNIST_CLASSIFIER_PATH, train_fast_cnn
from bmcourse.train import save_checkpoint


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--source", default="auto", choices=("auto", "full", "sample"))
    parser.add_argument("--device", default="cpu",
                        help="cpu (default, reproducible), cuda or mps")
    parser.add_argument("--out", type=Path, default=MNIST_CLASSIFIER_PATH)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    data = load_mnist(source=args.source)
    model, history = train_fast_cnn(data, device=args.device, seed=args.seed)
    print(history)
    info = {"data": data.source, "epochs": len(history["epoch"]),
            "test_acc": float(history.last("val_acc")), "seed": args.seed,
            "script": "scripts/train_mnist_classifier.py"}
    state = {name: tensor.detach().cpu() for name, tensor in model.state_dict().items()}
    save_checkpoint(args.out, model=state, info=info)
    print(f"\nwrote {args.out} ({args.out.stat().st_size:,} bytes), held-out accuracy "
          f"{info['test_acc']:.2%} on {data.source}")
    print(f"SHA-256: {sha256_of(args.out)}")
    print("Paste it into MNIST_CLASSIFIER_SHA256 in bmcourse/models/cnn.py.")


if __name__ == "__main__":
    main()
