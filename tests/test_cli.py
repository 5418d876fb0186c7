"""The command line: ``python -m bmcourse about | download``, and its handling of bad settings."""
import os
import re
import subprocess
import sys

import pytest
import torch

from bmcourse.cli import main


def test_about_and_download_offline(monkeypatch, tmp_path, capsys):
    assert main(["about"]) == 0
    assert "torch" in capsys.readouterr().out
    monkeypatch.setenv("BMCOURSE_OFFLINE", "1")
    monkeypatch.setenv("BMCOURSE_DATA", str(tmp_path))
    assert main(["download", "mnist"]) == 1  # offline: a clear message, no traceback
    assert "BMCOURSE_OFFLINE" in capsys.readouterr().err


@pytest.mark.parametrize("name, value, fix", [
    ("BMCOURSE_DEVICE", "gpu", "'cuda:N'"),
    ("BMCOURSE_DEVICE", "cuda:x", "'cuda:N'"),
    ("BMCOURSE_QUICK", "maybe", "Set it to 1"),
    ("BMCOURSE_OFFLINE", "perhaps", "Set it to 1"),
])
def test_about_explains_a_bad_setting_in_one_paragraph(monkeypatch, capsys, name, value, fix):
    monkeypatch.setenv(name, value)
    assert main(["about"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""  # nothing half-printed before the error
    assert f"{name}={value!r}" in captured.err and fix in captured.err
    assert captured.err.startswith("python -m bmcourse about: ")
    assert captured.err.count("\n") == 1 and "Traceback" not in captured.err


def test_every_bad_setting_is_reported_at_once(monkeypatch, capsys):
    monkeypatch.setenv("BMCOURSE_DEVICE", "gpu")
    monkeypatch.setenv("BMCOURSE_QUICK", "maybe")
    assert main(["about"]) == 2
    err = capsys.readouterr().err
    assert "BMCOURSE_DEVICE='gpu'" in err and "BMCOURSE_QUICK='maybe'" in err


def test_download_checks_only_what_it_reads(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("BMCOURSE_DATA", str(tmp_path))
    monkeypatch.setenv("BMCOURSE_OFFLINE", "sometimes")
    assert main(["download", "mnist"]) == 2
    assert "BMCOURSE_OFFLINE='sometimes'" in capsys.readouterr().err
    # the device is not used by a download, so a bad one does not stop it
    monkeypatch.setenv("BMCOURSE_OFFLINE", "yes")
    monkeypatch.setenv("BMCOURSE_DEVICE", "gpu")
    assert main(["download", "mnist"]) == 1
    assert "BMCOURSE_DEVICE" not in capsys.readouterr().err


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_about_refuses_a_device_this_machine_lacks(monkeypatch, capsys):
    monkeypatch.setenv("BMCOURSE_DEVICE", "CUDA")
    assert main(["about"]) == 2
    assert "not available here" in capsys.readouterr().err


def run_module(env_changes):
    env = {**os.environ, **env_changes}
    return subprocess.run([sys.executable, "-m", "bmcourse", "about"], env=env,
                          capture_output=True, text=True, timeout=120)


def test_python_m_bmcourse_about_exits_2_without_a_traceback():
    result = run_module({"BMCOURSE_DEVICE": "gpu"})
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and "BMCOURSE_DEVICE='gpu'" in result.stderr
    fine = run_module({"BMCOURSE_DEVICE": " Cpu ", "BMCOURSE_QUICK": "Yes"})
    assert fine.returncode == 0, fine.stderr
    # about() prints "key  value" rows, keys padded to one width
    rows = dict(re.split(r"\s{2,}", line.strip(), maxsplit=1) for line in fine.stdout.splitlines())
    assert rows["device"] == "cpu" and rows["quick mode"] == "True"


def test_train_lists_the_registered_recipes_with_their_options(capsys):
    from bmcourse.cli import main
    from bmcourse.training.recipes import RECIPES

    with pytest.raises(SystemExit) as exit_info:
        main(["train", "mnist-classifier", "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for option in ("--source", "--device", "--seed", "--epochs", "--out", "--no-progress"):
        assert option in text
    assert "mnist-classifier" in RECIPES


def test_train_runs_the_recipe_and_prints_the_checkpoint_hash(tmp_path, capsys, monkeypatch):
    from bmcourse.cli import main
    from bmcourse.files import sha256_of
    from bmcourse.training.recipes import RECIPES

    calls = {}

    def tiny_classifier(out=tmp_path / "default.pt", *, source="auto", device="cpu", seed=0, epochs=14, progress=True):
        calls.update(out=out, source=source, seed=seed, epochs=epochs, progress=progress)
        out.write_bytes(b"weights")
        return out, {"epochs": epochs, "sha256": sha256_of(out), "record_in": "the test"}

    monkeypatch.setitem(RECIPES, "mnist-classifier", tiny_classifier)
    out = tmp_path / "c.pt"
    assert main(["train", "mnist-classifier", "--out", str(out), "--source", "sample",
                 "--epochs", "2", "--seed", "5", "--no-progress"]) == 0
    assert calls == {"out": out, "source": "sample", "seed": 5, "epochs": 2, "progress": False}
    printed = capsys.readouterr().out
    assert f"SHA-256: {sha256_of(out)}" in printed and "record this hash in the test" in printed
