"""Put an "Open in Colab" badge and a Colab-only install cell at the top of every notebook, and
point the README's ``git+https://github.com/…`` commands at the same repository.

    python scripts/colab_badges.py [NOTEBOOK ...]

The repository address comes from ``[project.urls] Repository`` in pyproject.toml, so moving the
repository means changing that one line and running this script again (it replaces its own cells).
With notebook paths, only those notebooks are rewritten (the README always is).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
BADGE_TAG, INSTALL_TAG = "colab-badge", "colab-install"


def repository_url() -> str:
    text = (ROOT / "pyproject.toml").read_text()
    match = re.search(r'^Repository\s*=\s*"(https://github\.com/[^"]+?)/?"', text, re.MULTILINE)
    if not match:
        sys.exit("pyproject.toml needs [project.urls] Repository = \"https://github.com/OWNER/NAME\"")
    return match.group(1)


def colab_cells(notebook: Path, url: str) -> list:
    slug = url.removeprefix("https://github.com/")
    link = f"https://colab.research.google.com/github/{slug}/blob/main/notebooks/{notebook.name}"
    badge = nbformat.v4.new_markdown_cell(
        f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]({link})")
    install = nbformat.v4.new_code_cell(
        "import sys\n\n"
        'if "google.colab" in sys.modules:\n'
        "    # Adds mdwidgets and ipycanvas and replaces Colab's ipywidgets 7.7 with 8.x (the Studio needs 8);\n"
        "    # Colab's torch, diffusers and transformers meet mdwidgets' floors and stay (README, Install).\n"
        f'    %pip install -q "mdwidgets @ git+{url}"')
    badge.metadata["tags"], install.metadata["tags"] = [BADGE_TAG], [INSTALL_TAG]
    return [badge, install]


def rewrite_readme(url: str) -> None:
    """Every ``git+https://github.com/OWNER/NAME`` in README.md becomes ``git+URL``."""
    readme = ROOT / "README.md"
    text = readme.read_text(encoding="utf-8")
    readme.write_text(GIT_URL.sub(f"git+{url}", text), encoding="utf-8")


GIT_URL = re.compile(r"git\+https://github\.com/[\w.-]+/[\w.-]+")


def main() -> None:
    url = repository_url()
    rewrite_readme(url)
    chosen = [Path(p).resolve() for p in sys.argv[1:]]
    for path in chosen or sorted((ROOT / "notebooks").glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        own = {BADGE_TAG, INSTALL_TAG}
        kept = [c for c in nb.cells if not own & set(c.metadata.get("tags", []))]
        nb.cells = colab_cells(path, url) + kept
        for i, cell in enumerate(nb.cells):  # stable ids keep diffs small
            cell["id"] = f"cell-{i}"
        nbformat.write(nb, path)
        print(f"{path.relative_to(ROOT)}: badge -> {url}")


if __name__ == "__main__":
    main()
