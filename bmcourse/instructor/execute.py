"""Run one notebook in a fresh kernel, cell by cell, and record how each cell ended.

The grader runs this module in a child process (``python -m bmcourse.instructor.execute``),
so that the whole run, kernel included, can be stopped at its time limit. After every cell it
rewrites a small JSON file: the status of each cell (``ok``, ``error``, ``timeout`` or
``not run``), so that what was reached is known even when the process is killed.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from nbclient import NotebookClient
from nbclient.exceptions import DeadKernelError

from ..files import atomic_write
from .student import read_notebook

__all__ = ["run_notebook"]

TIMEOUT_NAME = "CellTimeoutError"


def _write_status(path: Path, status: dict) -> None:
    with atomic_write(path) as handle:
        handle.write(json.dumps(status).encode("utf-8"))


def run_notebook(notebook_path, status_path, workdir, cell_timeout: float,
                 time_limit: float) -> dict:
    """Execute a notebook; write and return ``{"cells": [...], "kernel_died": bool}``.

    Each entry of ``cells`` is ``{"status": ..., "error": "Name: message"}``. A cell that runs
    past ``cell_timeout`` seconds (or past what is left of ``time_limit``) is interrupted and
    marked ``timeout``, and the run goes on with the next cell; a cell that raises is marked
    ``error`` and the run goes on too. When the kernel dies, the rest is ``not run``.
    """
    status_path = Path(status_path)
    notebook = read_notebook(notebook_path)
    cells = [{"status": "not run", "error": ""} for _ in notebook.cells]
    status = {"cells": cells, "kernel_died": False}
    _write_status(status_path, status)
    client = NotebookClient(
        notebook, timeout=int(cell_timeout), allow_errors=True, interrupt_on_timeout=True,
        error_on_timeout={"ename": TIMEOUT_NAME, "evalue": "the cell ran past its time limit",
                          "traceback": []},
        kernel_name="python3", resources={"metadata": {"path": str(workdir)}})
    deadline = time.monotonic() + time_limit
    with client.setup_kernel():
        for index, cell in enumerate(notebook.cells):
            if cell.cell_type != "code":
                cells[index]["status"] = "ok"
                continue
            left = deadline - time.monotonic()
            if left <= 1:
                break
            client.timeout = max(1, int(min(cell_timeout, left)))
            try:
                client.execute_cell(cell, index)
            except DeadKernelError:
                status["kernel_died"] = True
                cells[index] = {"status": "error", "error": "The kernel died (a crash, or it "
                                "ran out of memory) while running this cell."}
                _write_status(status_path, status)
                break
            errors = [out for out in cell.outputs if out.get("output_type") == "error"]
            if not errors:
                cells[index]["status"] = "ok"
            elif any(error["ename"] in (TIMEOUT_NAME, "KeyboardInterrupt") for error in errors):
                # Interrupted at the time limit: the kernel may report KeyboardInterrupt too.
                cells[index] = {"status": "timeout",
                                "error": f"The cell ran past its limit of {client.timeout} s."}
            else:
                cells[index] = {"status": "error",
                                "error": f"{errors[-1]['ename']}: {errors[-1]['evalue']}"}
            _write_status(status_path, status)
    return status


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("notebook")
    parser.add_argument("status")
    parser.add_argument("--workdir", required=True)
    parser.add_argument("--cell-timeout", type=float, required=True)
    parser.add_argument("--time-limit", type=float, required=True)
    args = parser.parse_args(argv)
    run_notebook(args.notebook, args.status, args.workdir, args.cell_timeout, args.time_limit)


if __name__ == "__main__":
    main()
