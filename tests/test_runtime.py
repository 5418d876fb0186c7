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


@pytest.mark.parametrize("value, quick", [("1", True), ("true", True), (" Yes ", True), ("ON", True),
                                          ("0", False), ("", False), ("False", False), ("off", False)])
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


def test_quick_mode_rejects_a_value_that_is_neither_on_nor_off(monkeypatch):
    monkeypatch.setenv("BMCOURSE_QUICK", "maybe")
    with pytest.raises(ValueError, match=r"BMCOURSE_QUICK='maybe' is neither on nor off"):
        budget(full=10, quick=1)


@pytest.mark.parametrize("name", ["CPU", "Cpu", " cpu ", "cpu\n", "cpu:0"])
def test_device_names_ignore_case_and_spaces(monkeypatch, name):
    assert get_device(name).type == "cpu"
    monkeypatch.setenv("BMCOURSE_DEVICE", name)
    assert get_device().type == "cpu"


@pytest.mark.parametrize("name", ["gpu", "cuda:x", "cuda:", "cuda:-1", "meta", "cpu:1", "mps:1", "cuda cpu"])
def test_unknown_device_names_list_the_valid_ones_and_where_the_name_came_from(monkeypatch, name):
    # torch.device() accepts "meta" and "cpu:1", and its message for "cuda:x" names neither the
    # valid choices nor the environment variable.
    with pytest.raises(RuntimeError, match="Unknown device") as raised:
        get_device(name)
    assert f"get_device({name!r})" in str(raised.value) and "'cuda:N'" in str(raised.value)
    monkeypatch.setenv("BMCOURSE_DEVICE", name)
    with pytest.raises(RuntimeError, match="Unknown device") as raised:
        get_device()
    message = str(raised.value)
    assert f"BMCOURSE_DEVICE={name!r}" in message
    assert all(valid in message for valid in ("'cpu'", "'cuda'", "'cuda:N'", "'mps'"))


def test_cuda_index_must_exist(monkeypatch):
    # Pretend to be a machine with one GPU: torch.device("cuda", N) itself needs no GPU.
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert get_device("CUDA") == torch.device("cuda")
    assert get_device("cuda:0") == torch.device("cuda", 0)
    with pytest.raises(RuntimeError, match=r"GPU 1, which is not available here: this machine has 1 "
                                           r"CUDA device \(cuda:0 to cuda:0\)"):
        get_device("cuda:1")
    monkeypatch.setenv("BMCOURSE_DEVICE", "Cuda:3")
    with pytest.raises(RuntimeError, match="BMCOURSE_DEVICE='Cuda:3' asks for GPU 3"):
        get_device()


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_unavailable_device_from_the_environment_says_how_to_fix_it(monkeypatch):
    monkeypatch.setenv("BMCOURSE_DEVICE", "CUDA")
    with pytest.raises(RuntimeError, match="not available here: set BMCOURSE_DEVICE to 'cpu', or unset it"):
        get_device()
