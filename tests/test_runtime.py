import pytest
import torch

import bmcourse
from bmcourse.runtime import budget, get_device, is_quick, seed_everything


def test_device_defaults_to_best_available(monkeypatch):
    monkeypatch.delenv("BMCOURSE_DEVICE", raising=False)
    expected = "cuda" if torch.cuda.is_available() else (
        "mps" if torch.backends.mps.is_available() else "cpu")
    assert get_device().type == expected


def test_device_environment_override(monkeypatch):
    monkeypatch.setenv("BMCOURSE_DEVICE", "cpu")
    assert get_device() == torch.device("cpu")
    monkeypatch.setenv("BMCOURSE_DEVICE", "tpu-please")
    with pytest.raises(RuntimeError, match="Unknown device"):
        get_device()


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_unavailable_device_is_a_clear_error():
    with pytest.raises(RuntimeError, match="not available"):
        get_device("cuda")


def test_seed_everything_reproduces_streams():
    g1 = seed_everything(3)
    a = (torch.rand(3), torch.rand(2, generator=g1))
    g2 = seed_everything(3)
    b = (torch.rand(3), torch.rand(2, generator=g2))
    torch.testing.assert_close(a, b)


@pytest.mark.parametrize("value, quick", [("1", True), ("true", True), ("0", False), ("", False)])
def test_quick_mode_picks_budget(monkeypatch, value, quick):
    monkeypatch.setenv("BMCOURSE_QUICK", value)
    assert is_quick() is quick
    assert budget(full=10, quick=1) == (1 if quick else 10)


def test_about_reports_versions_device_and_data(capsys):
    info = bmcourse.about()
    printed = capsys.readouterr().out
    assert info["torch"] == torch.__version__ and torch.__version__ in printed
    assert "device" in info and "cpu threads" in info
    assert any(key.startswith("data: mnist") for key in info)


def test_cli_about_and_download_offline(monkeypatch, tmp_path, capsys):
    from bmcourse.cli import main

    assert main(["about"]) == 0
    assert "torch" in capsys.readouterr().out
    monkeypatch.setenv("BMCOURSE_OFFLINE", "1")
    monkeypatch.setenv("BMCOURSE_DATA", str(tmp_path))
    assert main(["download", "mnist"]) == 1  # offline: a clear message, no traceback
    assert "BMCOURSE_OFFLINE" in capsys.readouterr().err
