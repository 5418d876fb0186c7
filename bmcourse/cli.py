"""Command line: ``python -m bmcourse about``, ``download mnist``, ``train NAME``, ``ddp-demo``,
``student`` and ``grade``.

``python -m bmcourse train NAME`` runs a registered training recipe
(:data:`bmcourse.training.recipes.RECIPES`) and prints the SHA-256 of the checkpoint it wrote;
``python -m bmcourse train NAME --help`` lists that recipe's options.

Exit status: 0 on success, 1 when a download fails, 2 for a bad command line or a bad
``BMCOURSE_*`` environment variable (explained in one paragraph, without a traceback).
"""
from __future__ import annotations

import argparse
import inspect
import sys
from pathlib import Path

# The environment variables each command reads. They are checked before the command runs, so
# that a typo such as BMCOURSE_QUICK=maybe or BMCOURSE_DEVICE=gpu is reported as one readable
# paragraph instead of a traceback from deep inside the command.
_SETTINGS = {
    "about": ("BMCOURSE_DEVICE", "BMCOURSE_QUICK", "BMCOURSE_OFFLINE"),
    "download": ("BMCOURSE_OFFLINE",),
    "train": ("BMCOURSE_QUICK", "BMCOURSE_OFFLINE"),
    "ddp-demo": (),
    "student": (),
    "grade": (),
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
    _add_train_commands(commands.add_parser(
        "train", help="train a model the package ships, and print its checkpoint's SHA-256"))
    ddp = commands.add_parser("ddp-demo", help="train a small GPT with DDP in N processes "
                              "(torchrun, gloo) and compare with one process")
    ddp.add_argument("--nproc", type=int, default=2, help="processes (default: 2)")
    ddp.add_argument("--steps", type=int, default=20, help="optimizer steps (default: 20)")
    student = commands.add_parser("student", help="write student copies of notebooks: solutions "
                                  "removed, checks kept, outputs cleared")
    student.add_argument("notebooks", nargs="+", metavar="NOTEBOOK")
    student.add_argument("-o", "--output", required=True, metavar="DIR",
                         help="folder for the copies (never the sources' own folder)")
    grade = commands.add_parser("grade", help="run submitted notebooks and grade their exercises "
                                "into a CSV (not a sandbox: see the instructor page)")
    grade.add_argument("submissions", nargs="+", metavar="SUBMISSION")
    grade.add_argument("-o", "--output", required=True, metavar="CSV", help="grades file to write")
    grade.add_argument("--cell-timeout", type=float, default=120,
                       help="seconds allowed for one cell (default: 120)")
    grade.add_argument("--time-limit", type=float, default=900,
                       help="seconds allowed for one notebook (default: 900)")
    grade.add_argument("--memory-gb", type=float, default=8,
                       help="address-space limit for a run, in GiB (default: 8; 0 for none)")
    grade.add_argument("--full", action="store_true",
                       help="run with the full training budgets (default: BMCOURSE_QUICK=1)")
    grade.add_argument("--by-folder", action="store_true",
                       help="name each student by the submission's folder, not its file name")
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
    elif args.command == "train":
        return _train(args)
    elif args.command == "student":
        return _student(args, parser.prog)
    elif args.command == "grade":
        return _grade(args, parser.prog)
    elif args.command == "ddp-demo":
        from .distributed import run_ddp_demo
        try:
            run_ddp_demo(nproc=args.nproc, steps=args.steps)
        except ValueError as err:  # a bad --nproc / --steps
            print(f"{parser.prog} ddp-demo: {err}", file=sys.stderr)
            return 2
        except RuntimeError as err:  # torchrun failed; the message holds its stderr
            print(f"{parser.prog} ddp-demo: {err}", file=sys.stderr)
            return 1
    return 0


def _add_train_commands(train: argparse.ArgumentParser) -> None:
    """One sub-command per registered recipe, with an option per keyword argument."""
    from .training.recipes import RECIPES

    recipes = train.add_subparsers(dest="recipe", required=True, metavar="NAME")
    for name, function in sorted(RECIPES.items()):
        summary = (inspect.getdoc(function) or "").split("\n")[0]
        sub = recipes.add_parser(name, help=summary, description=summary)
        sub.set_defaults(recipe_function=function)
        for parameter in inspect.signature(function).parameters.values():
            if parameter.default is inspect.Parameter.empty:
                continue
            flag = "--" + parameter.name.replace("_", "-")
            default = parameter.default
            if isinstance(default, bool):
                sub.add_argument(flag, dest=parameter.name, default=default,
                                 action=argparse.BooleanOptionalAction)
            else:
                kind = type(default) if isinstance(default, (int, float)) else str
                sub.add_argument(flag, dest=parameter.name, type=kind, default=default,
                                 help=f"default: {default}")


def _student(args: argparse.Namespace, prog: str) -> int:
    from .instructor import write_student_copies

    try:
        written = write_student_copies(args.notebooks, args.output)
    except (ValueError, OSError) as err:
        print(f"{prog} student: {err}", file=sys.stderr)
        return 2
    for path in written:
        print(f"wrote {path}")
    return 0


def _grade(args: argparse.Namespace, prog: str) -> int:
    from .instructor import grade, write_csv

    for name, value in (("--cell-timeout", args.cell_timeout), ("--time-limit", args.time_limit)):
        if not value > 0:
            print(f"{prog} grade: {name} must be a positive number of seconds, got {value}.",
                  file=sys.stderr)
            return 2
    missing = [path for path in args.submissions if not Path(path).is_file()]
    if missing:
        print(f"{prog} grade: no such notebook: {', '.join(missing)}", file=sys.stderr)
        return 2
    rows = []
    for path in args.submissions:
        print(f"grading {path} ...", flush=True)
        found = grade([path], by_folder=args.by_folder, cell_timeout=args.cell_timeout,
                      time_limit=args.time_limit, quick=not args.full,
                      memory_bytes=int(args.memory_gb * 2**30) or None)
        for row in found:
            print(f"  {row.exercise or '-':<14} {row.points}/{row.max_points}  {row.status:<13} "
                  f"{row.message[:60]}")
        rows += found
    write_csv(rows, args.output)
    print(f"wrote {args.output} ({len(rows)} rows)")
    return 0


def _train(args: argparse.Namespace) -> int:
    function = args.recipe_function
    names = [p for p in inspect.signature(function).parameters
             if p in vars(args) and p not in ("command", "recipe", "recipe_function")]
    options = {name: getattr(args, name) for name in names}
    if "out" in options:
        options["out"] = Path(options["out"])
    path, info = function(**options)
    print(f"\nwrote {path} ({Path(path).stat().st_size:,} bytes)")
    for key, value in info.items():
        if key not in ("sha256", "history", "record_in"):
            print(f"  {key}: {value}")
    print(f"SHA-256: {info['sha256']}")
    if "record_in" in info:
        print(f"To ship it, record this hash in {info['record_in']}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
