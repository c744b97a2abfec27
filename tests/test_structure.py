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


def docstring_lines(node) -> int:
    """Lines of the docstrings of a class and of its methods."""
    lines = 0
    for inner in ast.walk(node):
        if isinstance(inner, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and inner.body:
            first = inner.body[0]
            if isinstance(first, ast.Expr) and isinstance(getattr(first, "value", None), ast.Constant):
                lines += first.end_lineno - first.lineno + 1
    return lines


def test_the_studio_is_small_parts_wired_together():
    """Issue #16: the Studio class at most 250 lines of code, every Studio method at most 40, and
    every part of the panel a class of its own under 250."""
    too_long = []
    for path in sorted((PACKAGE / "studio").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef):
                code = node.end_lineno - node.lineno + 1 - docstring_lines(node)
                too_long += [f"{path.name}:{node.name} {code}"] if code > 250 else []
        too_long += [f"{path.name}:{name} {n}" for name, n in function_lengths(path).items() if n > 40]
    assert not too_long


LAYERS = [  # low to high: a module may import only from its own layer or lower ones
    {"layout", "masks", "boxedit", "windows", "budget", "lockstep", "images", "schedulers", "prompts", "catalog",
     "conditioning", "progress"},
    {"models", "paths", "tiny"},
    {"settings", "files", "redo", "regional_attention"},
    {"sampler", "reference"},
    {"preview", "scoring"},
    {"views", "shapes"},
    {"sweep", "cli", "studio"},
    {"__init__", "__main__"},
]


def _layer(module: str) -> int:
    top = module.split(".")[0]
    return next(i for i, layer in enumerate(LAYERS) if top in layer)


def test_no_import_runs_from_a_lower_layer_up_to_a_higher_one():
    upward = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE).with_suffix("")
        module = ".".join(relative.parts)
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level:
                base = list(relative.parts[:-1])[: len(relative.parts) - node.level]
                target = ".".join([*base, node.module or ""]).strip(".")
                if target and target.split(".")[0] != module.split(".")[0] and _layer(target) > _layer(module):
                    upward.append(f"{module} imports {target}")
    assert not upward


def test_generic_modules_reach_the_shapes_add_on_through_one_function():
    """``shapes/`` belongs to the built-in model: outside it only ``views.adherence_scorer`` imports it."""
    reaching = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE)
        if relative.parts[0] == "shapes":
            continue
        tree = ast.parse(path.read_text())
        owners = {inner: node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)
                  for inner in ast.walk(node)}
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level and (node.module or "").split(".")[0] == "shapes":
                reaching.append(f"{relative.as_posix()}:{owners.get(node, '<module>')}")
    assert reaching == ["views.py:adherence_scorer"]


def test_importing_the_package_and_the_cli_help_load_no_torch():
    """Issue #18: ``import mdwidgets`` and ``--help`` are instant; torch comes with the first render."""
    import subprocess
    import sys

    probe = ("import sys, runpy; sys.argv = ['mdwidgets', '--help']\n"
             "import mdwidgets\nassert 'torch' not in sys.modules, 'import mdwidgets loaded torch'\n"
             "from mdwidgets import Layout, Settings\nassert 'torch' not in sys.modules, 'Layout loaded torch'\n"
             "try:\n    runpy.run_module('mdwidgets', run_name='__main__')\nexcept SystemExit:\n    pass\n"
             "assert 'torch' not in sys.modules and 'diffusers' not in sys.modules, '--help loaded torch'\n"
             "from mdwidgets import compose, Studio\nassert 'torch' in sys.modules and callable(compose)\n")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "render" in done.stdout  # the help text was printed
