"""Code shape rules from the developers' guide, checked on the source."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "mdwidgets"
EXEMPT = {"shapes/train.py"}  # the trainer's stages are long scripts, run rarely


def function_lengths(path: Path) -> dict[str, int]:
    """Lines of each function's code, its docstring not counted."""
    lengths = {}
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant):
                body = body[1:] or body
            lengths[node.name] = node.end_lineno - node.lineno + 1 - (body[0].lineno - node.body[0].lineno)
    return lengths


def test_no_function_over_60_lines_and_none_in_the_sampler_over_40():
    too_long = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE).as_posix()
        if relative in EXEMPT:
            continue
        limit = 40 if relative in ("sampler.py", "paths.py") else 60
        too_long += [f"{relative}:{name} {n}" for name, n in function_lengths(path).items() if n > limit]
    assert not too_long


def test_the_length_counter_counts_code_not_docstrings(tmp_path):
    source = tmp_path / "f.py"
    source.write_text('def f():\n    """Doc\n    more doc\n    """\n    a = 1\n    return a\n\n\n'
                      'def g():\n    return 2\n')
    assert function_lengths(source) == {"f": 3, "g": 2}
