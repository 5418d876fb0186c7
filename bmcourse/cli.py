"""Command line: ``python -m bmcourse about`` and ``python -m bmcourse download mnist``.

Exit status: 0 on success, 1 when a download fails, 2 for a bad command line or a bad
``BMCOURSE_*`` environment variable (explained in one paragraph, without a traceback).
"""
from __future__ import annotations

import argparse
import sys

# The environment variables each command reads. They are checked before the command runs, so
# that a typo such as BMCOURSE_QUICK=maybe or BMCOURSE_DEVICE=gpu is reported as one readable
# paragraph instead of a traceback from deep inside the command.
_SETTINGS = {
    "about": ("BMCOURSE_DEVICE", "BMCOURSE_QUICK", "BMCOURSE_OFFLINE"),
    "download": ("BMCOURSE_OFFLINE",),
}


def _setting_problems(names: tuple[str, ...]) -> list[str]:
    """The error message of every named environment variable whose value is unusable."""
    from .runtime import env_flag, get_device

    problems = []
    for name in names:
        try:
            if name == "BMCOURSE_DEVICE":
                get_device()  # an unknown name, or a device this machine lacks
            else:
                env_flag(name)  # neither on nor off
        except (ValueError, RuntimeError) as err:
            problems.append(str(err))
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bmcourse", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("about", help="print versions, device, threads and data sources")
    download = commands.add_parser("download", help="download a data set into the cache (needs internet)")
    download.add_argument("dataset", choices=["mnist", "cifar10"])
    args = parser.parse_args(argv)

    problems = _setting_problems(_SETTINGS[args.command])
    if problems:
        # Exit status 2, as argparse uses for a bad command line: the invocation is at fault.
        print(f"{parser.prog} {args.command}: " + " ".join(problems), file=sys.stderr)
        return 2

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
