"""Every example in the package's docstrings runs and prints what it shows."""
import doctest
import importlib
import pkgutil

import pytest

import bmcourse

# __main__ would run the command line on import.
MODULES = sorted(m.name for m in pkgutil.walk_packages(bmcourse.__path__, "bmcourse.")
                 if not m.name.endswith("__main__"))


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples in {name} failed"


def test_the_examples_are_found():
    examples = sum(len(test.examples) for name in MODULES
                   for test in doctest.DocTestFinder().find(importlib.import_module(name)))
    assert examples >= 40
