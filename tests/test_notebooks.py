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
