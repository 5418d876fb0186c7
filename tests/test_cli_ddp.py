"""``python -m bmcourse ddp-demo``: the command the engineering chapter documents."""
import re

from bmcourse.cli import main


def test_ddp_demo_prints_the_weight_difference(capsys):
    # In this process (main() is what ``python -m bmcourse`` runs); torchrun still starts two
    # real worker processes.
    assert main(["ddp-demo", "--nproc", "2", "--steps", "2"]) == 0
    line = capsys.readouterr().out.strip().splitlines()[-1]
    match = re.fullmatch(r"max \|w_ddp - w_single\| = (\S+)", line)
    assert match, line
    assert float(match.group(1)) < 1e-5


def test_ddp_demo_rejects_a_batch_that_does_not_split(capsys):
    assert main(["ddp-demo", "--nproc", "3", "--steps", "1"]) == 2
    assert "multiple of 3" in capsys.readouterr().err
