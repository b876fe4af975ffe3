"""The layering of rankexp/, proved by walking every module's imports (ast, no third-party tool).

Data flows one way: data -> prompts -> models -> recipes -> entry points. The
rules below are docs/usage.md's "Code layout" section; a module that breaks one fails here with the
import named.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "rankexp"
ENTRY_POINTS = {"rankexp.run", "rankexp.predict", "rankexp.plan.__main__", "rankexp.export.__main__"}
BASE = {"rankexp.errors", "rankexp.io", "rankexp.config.conf_dir"}  # importable from everywhere
# layer -> the layers (prefixes) it may import, besides BASE and itself
ALLOWED = {
    "rankexp.data": set(),
    "rankexp.retrievers": {"rankexp.data", "rankexp.evaluation"},
    "rankexp.evaluation": {"rankexp.data"},
    "rankexp.prompts": {"rankexp.data"},
    "rankexp.losses": {"rankexp.evaluation"},
    "rankexp.models": {"rankexp.data", "rankexp.prompts", "rankexp.losses", "rankexp.evaluation"},
    "rankexp.report": {"rankexp.data", "rankexp.evaluation"},
    "rankexp.config": {"rankexp.data", "rankexp.models"},  # resolvers ask models.loading about bf16; stored builds manifests
}
NO_LLM = ("rankexp.models", "rankexp.prompts", "rankexp.losses", "rankexp.recipes")


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> list[tuple[str, list[str], int]]:
    """(module, imported names, line) of every rankexp import in the file, at any depth."""
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("rankexp"):
            out.append((node.module, [a.name for a in node.names], node.lineno))
        elif isinstance(node, ast.Import):
            out += [(a.name, [], node.lineno) for a in node.names if a.name.startswith("rankexp")]
    return out


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def layer_of(module: str) -> str:
    for layer in sorted(ALLOWED, key=len, reverse=True):
        if module == layer or module.startswith(layer + "."):
            return layer
    return module


def resolve(target: str, names: list[str]) -> list[str]:
    """`from rankexp.x import y` imports module rankexp.x.y when that is a module, else rankexp.x."""
    found = [f"{target}.{n}" for n in names if f"{target}.{n}" in MODULES]
    return found or [target]


def in_base(module: str) -> bool:
    return any(module == base or module.startswith(base + ".") for base in BASE)


def test_layers_import_only_downwards():
    broken = []
    for module, path in MODULES.items():
        layer = layer_of(module)
        if layer not in ALLOWED:
            continue
        for target, names, line in imports(path):
            for dep in resolve(target, names):
                dep_layer = layer_of(dep)
                if dep_layer == layer or in_base(dep) or dep == "rankexp" or dep_layer in ALLOWED[layer]:
                    continue
                broken.append(f"{path.relative_to(PACKAGE.parent)}:{line} ({layer}) imports {dep}")
    assert not broken, "imports against the layering:\n" + "\n".join(broken)


def test_nothing_imports_an_entry_point():
    broken = [f"{MODULES[m].relative_to(PACKAGE.parent)}:{line} imports {dep}"
              for m in MODULES if m not in ENTRY_POINTS
              for target, names, line in imports(MODULES[m]) for dep in resolve(target, names) if dep in ENTRY_POINTS]
    assert not broken, "\n".join(broken)


def test_retrievers_know_no_llm():
    broken = [f"{MODULES[m].relative_to(PACKAGE.parent)}:{line} imports {dep}"
              for m in MODULES if layer_of(m) == "rankexp.retrievers"
              for target, names, line in imports(MODULES[m]) for dep in resolve(target, names)
              if dep.startswith(NO_LLM)]
    assert not broken, "\n".join(broken)


def test_no_underscore_names_across_modules():
    broken = [f"{MODULES[m].relative_to(PACKAGE.parent)}:{line} imports {name} from {target}"
              for m in MODULES for target, names, line in imports(MODULES[m]) if target != m
              for name in names if name.startswith("_") and name != "__version__"]
    assert not broken, "\n".join(broken)


def test_no_import_cycle():
    graph = {m: {d for t, n, _ in imports(p) for d in resolve(t, n) if d in MODULES and d != m}
             for m, p in MODULES.items()}
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        state[node] = 2
        stack.pop()
        return None

    for module in sorted(graph):
        if module not in state and (cycle := visit(module)):
            raise AssertionError("import cycle: " + " -> ".join(cycle))


# The flat modules of rankexp/: the entry points (run, predict; config_schema is `python -m rankexp.config`'s
# older spelling) and the package face (`import rankexp`, `Ranker`, the error types). Anything else has a package.
TOP_LEVEL = {"__init__", "api", "errors", "run", "predict", "config_schema"}


def test_the_top_level_holds_entry_points_and_the_package_face_only():
    top = sorted(p.stem for p in PACKAGE.glob("*.py"))
    extra = sorted(set(top) - TOP_LEVEL)
    assert not extra and len(top) <= 8, f"rankexp/ holds flat modules {extra} besides {sorted(TOP_LEVEL)}; give them a package"


def test_the_walk_sees_every_module():
    assert len(MODULES) > 60 and "rankexp.recipes.alro" in MODULES
    assert layer_of("rankexp.prompts.core") == "rankexp.prompts"
    assert resolve("rankexp.report", ["media"]) == ["rankexp.report.media"]
