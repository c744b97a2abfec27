"""Print the oldest versions pyproject.toml allows, pinned exactly, plus the test tools.

    python scripts/floors.py > floors.txt

Each runtime dependency (and each extra) in pyproject.toml is written ``name>=FLOOR``; this turns
it into ``name==FLOOR`` so that scripts/test_floors.sh tests the versions the package claims to
support, not whatever pip picks. The floors have one home, pyproject.toml. The test tools are
listed by name only: their newest releases for the floor job's Python (requirements-dev.txt's
pins need Python 3.11).
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
# extras left out of the floor job, and why (said in its log)
UNTESTED_EXTRAS = {
    "lora": "it needs transformers>=4.44 (peft 0.17 imports its EncoderDecoderCache and HybridCache), above "
            "the base floor 4.40; with peft on transformers 4.40 `import diffusers` itself fails",
}


def floor_pins(pyproject: dict) -> list[str]:
    """``name==FLOOR`` for every runtime dependency and those of the tested extras; a spec without
    one floor is an error."""
    project = pyproject["project"]
    specs = list(project["dependencies"])
    for name, extra in project.get("optional-dependencies", {}).items():
        if name in UNTESTED_EXTRAS:
            print(f"floors: extra {name!r} not installed: {UNTESTED_EXTRAS[name]}", file=sys.stderr)
        else:
            specs += extra
    pins = []
    for spec in specs:
        match = re.fullmatch(r"([A-Za-z0-9_.-]+)>=([0-9][0-9.]*)", spec.replace(" ", ""))
        if not match:
            sys.exit(f"pyproject.toml: {spec!r} is not 'name>=FLOOR', so it has no floor to test")
        pins.append(f"{match.group(1)}=={match.group(2)}")
    return pins


def main() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    print("\n".join(floor_pins(pyproject) + sorted(TEST_TOOLS)))


if __name__ == "__main__":
    main()
