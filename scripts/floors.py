"""Print the oldest versions pyproject.toml allows, pinned exactly, plus the test tools.

    python scripts/floors.py > floors.txt

Each runtime dependency (and each extra) in pyproject.toml is written ``name>=FLOOR``; this turns
it into ``name==FLOOR`` so that scripts/test_floors.sh tests the versions the package claims to
support, not whatever pip picks. The floors have one home, pyproject.toml; the test tools keep
their pins from requirements-dev.txt.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: test_floors.sh installs tomli
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
# what the non-browser tests import besides the package (the browser test's jupyterlab/playwright stay out)
TEST_TOOLS = {"pytest", "hypothesis", "nbclient", "nbformat", "ipykernel", "packaging"}


def floor_pins(pyproject: dict) -> list[str]:
    """``name==FLOOR`` for every runtime and optional dependency; a spec without one floor is an error."""
    project = pyproject["project"]
    specs = list(project["dependencies"])
    for extra in project.get("optional-dependencies", {}).values():
        specs += extra
    pins = []
    for spec in specs:
        match = re.fullmatch(r"([A-Za-z0-9_.-]+)>=([0-9][0-9.]*)", spec.replace(" ", ""))
        if not match:
            sys.exit(f"pyproject.toml: {spec!r} is not 'name>=FLOOR', so it has no floor to test")
        pins.append(f"{match.group(1)}=={match.group(2)}")
    return pins


def tool_pins(requirements: str) -> list[str]:
    """The test tools' lines of requirements-dev.txt, as they are pinned there."""
    return [line for line in requirements.splitlines()
            if re.split(r"[=<>!~ ]", line, maxsplit=1)[0].lower() in TEST_TOOLS]


def main() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    print("\n".join(floor_pins(pyproject) + tool_pins((ROOT / "requirements-dev.txt").read_text())))


if __name__ == "__main__":
    main()
