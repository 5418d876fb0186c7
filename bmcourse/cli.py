"""Command line: ``python -m bmcourse about`` and ``python -m bmcourse download mnist``."""
from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bmcourse", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("about", help="print versions, device, threads and data sources")
    download = commands.add_parser("download", help="download a data set into the cache (needs internet)")
    download.add_argument("dataset", choices=["mnist", "cifar10"])
    args = parser.parse_args(argv)

    if args.command == "about":
        from .runtime import about
        about()
    elif args.command == "download":
        from . import data
        loader = {"mnist": lambda: data.load_mnist(source="full"), "cifar10": data.load_cifar10}[args.dataset]
        try:
            print(loader())
        except data.DownloadError as err:
            print(err, file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
