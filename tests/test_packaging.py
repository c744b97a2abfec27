"""The install paths stay in step: pyproject, environment.yml, README's commands and CI."""

import re

import tomllib
from packaging.requirements import Requirement

CONDA_NAMES = {"pytorch": "torch"}


def pyproject_deps(root):
    data = tomllib.loads((root / "pyproject.toml").read_text())
    return {Requirement(d).name.lower(): str(Requirement(d).specifier) for d in data["project"]["dependencies"]}


def conda_deps(root):
    deps = {}
    in_deps = False
    for line in (root / "environment.yml").read_text().splitlines():
        if line.startswith("dependencies:"):
            in_deps = True
            continue
        match = re.match(r"^  - ([A-Za-z0-9_.-]+)\s*([<>=!~].*)?$", line)
        if in_deps and match:
            name = CONDA_NAMES.get(match.group(1), match.group(1)).lower()
            deps[name] = (match.group(2) or "").strip()
    deps.pop("python", None)
    deps.pop("pip", None)
    return deps


def test_environment_yml_matches_pyproject(root):
    assert conda_deps(root) == pyproject_deps(root)


def test_package_does_not_pin_torch(root):
    assert "==" not in pyproject_deps(root)["torch"]


def test_dev_requirements_cover_runtime_deps(root):
    pinned = {
        Requirement(line).name.lower()
        for line in (root / "requirements-dev.txt").read_text().splitlines()
        if line and not line.startswith(("#", "-"))
    }
    assert set(pyproject_deps(root)) <= pinned


def test_readme_quick_start_has_two_commands_and_ci_runs_the_test_one(root):
    readme = (root / "README.md").read_text()
    section = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    commands = re.findall(r"^(bash scripts/\S+\.sh)\s*$", section, flags=re.M)
    assert commands == ["bash scripts/quickstart.sh", "bash scripts/test.sh"]
    assert "bash scripts/test.sh" in (root / ".ci" / "run").read_text()
