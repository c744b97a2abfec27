"""The install paths stay in step: pyproject, environment.yml, README's commands and CI."""

import re

from packaging.requirements import Requirement

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10 (the floor job installs tomli)
    import tomli as tomllib

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


def test_the_wheel_carries_model_and_examples_and_renders_outside_the_repo(root, tmp_path):
    import subprocess
    import sys
    import zipfile

    subprocess.run([sys.executable, "-m", "pip", "wheel", str(root), "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(tmp_path / "dist")], check=True, capture_output=True)
    (wheel,) = (tmp_path / "dist").glob("mdwidgets-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {f"mdwidgets/examples/{n}.json" for n in ("shapes", "panorama", "living_room", "sweep")} <= names
    model = "mdwidgets/models/shapes"
    assert {f"{model}/model_index.json", f"{model}/unet/diffusion_pytorch_model.safetensors",
            f"{model}/text_encoder/model.safetensors"} <= names
    assert not any(n.startswith(("tests/", "benchmarks/")) for n in names)
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(site), str(wheel)],
                   check=True, capture_output=True)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**__import__("os").environ, "PYTHONPATH": str(site)}
    run = lambda *args: subprocess.run([sys.executable, "-m", "mdwidgets", *args], cwd=elsewhere, env=env,  # noqa: E731
                                       capture_output=True, text=True)
    assert run("example", "shapes").returncode == 0
    done = run("render", "shapes.json", "-o", "out.png", "--steps", "2", "--seed", "0")
    assert done.returncode == 0, done.stderr
    assert "wrote out.png (128x128, 3 regions) with builtin:shapes" in done.stdout
    where = subprocess.run([sys.executable, "-c", "import mdwidgets; print(mdwidgets.__file__)"], cwd=elsewhere,
                           env=env, capture_output=True, text=True).stdout
    assert where.startswith(str(site))  # the installed wheel, not the clone


def test_every_repository_address_is_the_one_in_pyproject(root):
    """A fork changes [project.urls] Repository and runs scripts/colab_badges.py; nothing may point elsewhere."""
    repository = tomllib.loads((root / "pyproject.toml").read_text())["project"]["urls"]["Repository"]
    slug = repository.removeprefix("https://github.com/")
    files = [root / "README.md", *sorted((root / "notebooks").glob("*.ipynb"))]
    for path in files:
        text = path.read_text(encoding="utf-8")
        assert "<owner>" not in text, path.name
        assert set(re.findall(r"git\+(https://github\.com/[\w.-]+/[\w.-]+)", text)) <= {repository}, path.name
        assert set(re.findall(r"colab\.research\.google\.com/github/([\w.-]+/[\w.-]+)/", text)) <= {slug}, path.name
    assert f"git+{repository}" in (root / "README.md").read_text(encoding="utf-8")  # the git route is documented
