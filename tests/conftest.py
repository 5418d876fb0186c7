"""Shared test set-up: no test may touch the network or the user's real data cache."""
import pytest


@pytest.fixture(autouse=True)
def _offline_private_cache(monkeypatch, tmp_path_factory):
    # Every test sees an empty, private cache and BMCOURSE_OFFLINE=1, so a loader called by any
    # test falls back to bundled data instead of downloading. file:// URLs still work offline.
    monkeypatch.setenv("BMCOURSE_DATA", str(tmp_path_factory.getbasetemp() / "bmcourse-cache"))
    monkeypatch.setenv("BMCOURSE_OFFLINE", "1")


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    """A fresh, empty cache folder for this test, set as BMCOURSE_DATA."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("BMCOURSE_DATA", str(folder))
    return folder


@pytest.fixture
def no_network(monkeypatch):
    """Make any attempt to open a URL fail the test."""
    import urllib.request

    def refuse(*args, **kwargs):
        raise AssertionError(f"the network was used: urlopen{args}")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)
