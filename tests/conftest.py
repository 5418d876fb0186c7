"""Shared test set-up: no test may touch the network or the user's real data cache."""
import pytest
import torch


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


# --- The built book (tests marked `site`: tests/test_built_html.py, tests/test_browser.py) ------

import os
import pathlib
import shutil

ROOT = pathlib.Path(__file__).resolve().parent.parent
SITE_CANDIDATES = [ROOT / "_build" / "html", ROOT / "_build" / "check" / "_build" / "html"]


def built_site():
    """The built HTML book: $BMCOURSE_SITE, else `make book`'s, else `make book-check`'s; or None."""
    if os.environ.get("BMCOURSE_SITE"):
        candidates = [pathlib.Path(os.environ["BMCOURSE_SITE"]).resolve()]
    else:
        candidates = SITE_CANDIDATES
    return next((c for c in candidates if (c / "book" / "intro.html").is_file()), None)


@pytest.fixture(scope="session")
def site():
    """Folder of the built book; skips the test when no book has been built."""
    folder = built_site()
    if folder is None:
        pytest.skip("no built book: run `make book` or `make book-check` first (or set BMCOURSE_SITE)")
    return folder


def chromium_path():
    """The Chromium to drive: $BMCOURSE_CHROMIUM, else Debian's `chromium` (or a Chrome) on PATH."""
    if os.environ.get("BMCOURSE_CHROMIUM"):
        return os.environ["BMCOURSE_CHROMIUM"]
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        if shutil.which(name):
            return shutil.which(name)
    return None


@pytest.fixture(autouse=True)
def one_thread():
    """Run each test on one CPU thread.

    The models in the tests are small: on a shared 2-core machine a second thread mostly spins,
    competing for the cores (other processes, pytest's own), and can make a test ten times
    slower. Results are deterministic either way; a test that compares two runs makes both here.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
