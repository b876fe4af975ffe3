"""Small modules with one job each: every module of rankexp/ is <= 300 lines, every function <= 50 lines of code."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "rankexp"
MAX_MODULE_LINES, MAX_FUNCTION_CODE_LINES = 300, 50


def code_lines(node: ast.AST, lines: list[str]) -> int:
    """Lines of a function that are neither blank, comments, nor its docstring."""
    body = [line for line in lines[node.lineno - 1:node.end_lineno] if line.strip() and not line.strip().startswith("#")]
    doc = ast.get_docstring(node)
    return len(body) - (len(doc.splitlines()) if doc else 0)


def test_modules_are_short():
    long = {str(p.relative_to(PACKAGE.parent)): n for p in PACKAGE.rglob("*.py")
            if (n := len(p.read_text().splitlines())) > MAX_MODULE_LINES}
    assert not long, f"modules over {MAX_MODULE_LINES} lines: {long}"


def test_functions_are_short():
    long = []
    for path in sorted(PACKAGE.rglob("*.py")):
        text = path.read_text()
        lines = text.splitlines()
        for node in ast.walk(ast.parse(text)):
            n = code_lines(node, lines) if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) else 0
            if n > MAX_FUNCTION_CODE_LINES:
                long.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno} {node.name} ({n})")
    assert not long, "functions over 50 lines of code:\n" + "\n".join(long)


def test_the_counter_counts_code_only():
    source = 'def f():\n    """Doc\n    string."""\n    # comment\n\n    return 1\n'
    node = ast.parse(source).body[0]
    assert code_lines(node, source.splitlines()) == 2  # the def line and the return


def test_tests_mirror_the_package():
    """One tests/ folder per package folder of rankexp/ (plus tests/e2e for the slow runs, tests/helpers)."""
    tests = Path(__file__).resolve().parent
    packages = sorted(p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file())
    missing = [name for name in packages if not any((tests / name).glob("test_*.py"))]
    assert not missing, f"package folders without tests/<folder>/test_*.py: {missing}"
    extra = sorted(p.name for p in tests.iterdir() if p.is_dir() and not p.name.startswith((".", "_"))
                   and p.name not in (*packages, "e2e", "helpers"))
    assert not extra, f"tests/ folders that mirror no package folder: {extra}"
