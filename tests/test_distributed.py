"""Data parallelism: two gloo processes launched by torchrun reach one process's weights."""
import pytest
import torch

from bmcourse.distributed import (RankSlices, allreduce_seconds, demo_data, run_ddp_demo,
                                  torchrun_command, train_demo)
from bmcourse.data.windows import TokenWindows


def test_rank_slices_partition_the_same_global_batch():
    windows = TokenWindows(torch.arange(500), block_size=8)
    batches = [next(RankSlices(windows, rank, 2).batches(3, torch.Generator().manual_seed(0), "cpu"))
               for rank in (0, 1)]
    whole = next(windows.batches(6, torch.Generator().manual_seed(0), "cpu"))
    torch.testing.assert_close(torch.cat([x for x, _ in batches]), whole[0])
    torch.testing.assert_close(torch.cat([y for _, y in batches]), whole[1])
    with pytest.raises(ValueError, match="rank must lie"):
        RankSlices(windows, 2, 2)


def test_two_process_ddp_matches_one_process(capsys):
    # The real launcher (python -m torch.distributed.run), two CPU processes talking gloo over
    # 127.0.0.1; the single-process run trains on the same global batches.
    result = run_ddp_demo(nproc=2, steps=4, batch_size=8)
    assert result["max_abs_diff"] < 1e-5
    assert result["ddp_loss"] == pytest.approx(result["single_loss"], rel=1e-5)
    lines = capsys.readouterr().out.splitlines()
    assert lines[-1].startswith("max |w_ddp - w_single| = ")
    assert float(lines[-1].split("= ")[1]) == pytest.approx(result["max_abs_diff"], rel=0.01)


def test_the_weights_do_change():
    # ... so that the equality above is not the trivial one of untrained copies.
    data, vocab_size = demo_data()
    from bmcourse.distributed import demo_model
    model = demo_model(vocab_size)
    before = [p.detach().clone() for p in model.parameters()]
    train_demo(model, data, steps=2, batch_size=4)
    assert all((a - p).abs().max() > 1e-4 for a, p in zip(before, model.parameters()))


def test_bad_arguments_name_the_fix():
    with pytest.raises(ValueError, match="multiple of 2"):
        run_ddp_demo(nproc=2, batch_size=7)
    with pytest.raises(ValueError, match="nproc must be"):
        torchrun_command(0, [])
    with pytest.raises(ValueError, match="steps must be"):
        run_ddp_demo(steps=0)
    with pytest.raises(ValueError, match="sizes must be"):
        allreduce_seconds(sizes=[0])


def test_torchrun_command_meets_on_the_loopback_address():
    command = torchrun_command(2, ["--out", "w.pt"], port=29555)
    assert command[1:3] == ["-m", "torch.distributed.run"]
    assert "--master_addr=127.0.0.1" in command and "--master_port=29555" in command
    assert command[-4:] == ["-m", "bmcourse.distributed", "--out", "w.pt"]
