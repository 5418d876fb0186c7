"""The three places that name dependencies must agree: pyproject.toml (loose ranges, for pip
installs in Colab), requirements.txt (exact pins for `make`) and environment.yml (conda)."""
import pathlib
import re
import tomllib

import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = pathlib.Path(__file__).resolve().parent.parent


def pyproject_requirements():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    lines = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        lines += extra
    return {canonicalize_name(Requirement(line).name): Requirement(line) for line in lines}


def pinned(lines):
    pins = {}
    for line in lines:
        line = line.split("#")[0].strip()
        match = re.fullmatch(r"([A-Za-z0-9_.\-]+)==([^\s;]+)", line)
        if match:
            pins[canonicalize_name(match[1])] = match[2]
    return pins


def lock_pins():
    return pinned((ROOT / "requirements.txt").read_text().splitlines())


def conda_pins():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    return pinned(pip_section)


def test_every_direct_dependency_is_pinned_in_the_lock_file_within_its_range():
    locks = lock_pins()
    for name, requirement in pyproject_requirements().items():
        assert name in locks, f"{name} is in pyproject.toml but not pinned in requirements.txt"
        assert requirement.specifier.contains(locks[name], prereleases=True), (
            f"requirements.txt pins {name}=={locks[name]}, outside pyproject's range {requirement.specifier}")


def test_environment_yml_lists_the_same_dependencies_at_the_same_versions():
    direct, conda, locks = pyproject_requirements(), conda_pins(), lock_pins()
    assert set(conda) == set(direct), f"environment.yml differs: {set(conda) ^ set(direct)}"
    for name, version in conda.items():
        assert locks[name] == version, f"{name}: environment.yml has {version}, requirements.txt {locks[name]}"


def test_torch_is_pinned_exactly_but_ranged_loosely():
    assert lock_pins()["torch"] == "2.13.0"
    assert "==" not in str(pyproject_requirements()["torch"].specifier)


def test_jupyter_book_stays_below_2():
    assert not pyproject_requirements()["jupyter-book"].specifier.contains("2.0.0")
    assert lock_pins()["jupyter-book"].startswith("1.")
