"""Every notebook runs top to bottom on the built-in model."""

import nbformat
import pytest
from nbclient import NotebookClient


def notebooks(root):
    return sorted((root / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("name", [p.name for p in notebooks(__import__("pathlib").Path(__file__).parents[1])])
def test_notebook_runs(root, name):
    path = root / "notebooks" / name
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors
    assert any(c.get("outputs") for c in nb.cells if c.cell_type == "code")


def test_every_notebook_opens_in_colab_from_the_project_repository(root):
    import re

    repository = re.search(r'^Repository = "https://github.com/(.+)"', (root / "pyproject.toml").read_text(), re.M)[1]
    for path in notebooks(root):
        badge, install = nbformat.read(path, as_version=4).cells[:2]
        link = f"https://colab.research.google.com/github/{repository}/blob/main/notebooks/{path.name}"
        assert "[![Open In Colab]" in badge.source and f"({link})" in badge.source, path.name
        assert '"google.colab" in sys.modules' in install.source, path.name
        assert f"git+https://github.com/{repository}" in install.source, path.name
