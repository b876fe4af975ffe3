"""Mutation testing of the numerical core: would the fast tests notice if this line were wrong?

`make mutate` (or `python experiments/mutate.py`) changes one operator or constant at a time in the
losses, the ranking metrics, the split, the prompt core and the LR schedule, runs that module's fast
tests against the changed code, and writes experiments/results/mutation.json: per module the
mutants, how many the tests killed (a test failed or the run timed out) and every survivor with
its line and change. Not part of CI (minutes, not seconds).

A survivor that cannot change any result (an equivalent mutant, e.g. dim=1 for dim=-1 on a 2-D
tensor) is listed in EQUIVALENT with its reason; those are reported apart and left out of the
killed share, which is killed / (mutants - equivalent).

Why a small AST mutator and not mutmut: mutmut 3 runs pytest from its own copy of the tree, where
`tests.helpers` resolves to an unrelated `tests` package in site-packages, so it cannot collect
this suite. This one needs no copy of the tree: torch and the other heavy libraries are imported
once, then every mutant runs in a forked child whose import system serves the mutated source
under the real file name, and nothing on
disk changes.

Mutations: arithmetic (+ -, * /, // /, ** *), comparisons (< <=, > >=, == !=, is / is not,
in / not in), and/or, dropping `not` and unary minus, True/False, and numbers n -> n + 1.
Not mutated: docstrings, strings, annotations, the text of `raise` and logging calls
(a message that changes is not a wrong result).
"""

from __future__ import annotations

import argparse
import ast
import importlib.abc
import importlib.util
import json
import os
import platform
import signal
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "experiments" / "results" / "mutation.json"
# module file -> (the fast tests that guard it, the functions to mutate; None = the whole file)
TARGETS: dict[str, tuple[list[str], list[str] | None]] = {
    "rankexp/losses/soft_lambda.py": (["tests/losses/test_soft_lambda.py", "tests/losses"], None),
    "rankexp/losses/common.py": (["tests/losses"], None),
    "rankexp/losses/perm_kl.py": (["tests/losses/test_perm_kl.py", "tests/losses"], None),
    "rankexp/losses/rating_ce.py": (["tests/losses/test_rating_ce.py", "tests/losses"], None),
    "rankexp/losses/sft.py": (["tests/losses/test_sft.py", "tests/losses"], None),
    "rankexp/losses/__init__.py": (["tests/losses"], None),
    "rankexp/evaluation/metrics.py": (["tests/evaluation/test_metrics.py", "tests/evaluation/test_metrics_edges.py",
                                       "tests/evaluation/test_baselines.py"], None),
    "rankexp/data/splits.py": (["tests/data/test_splits.py", "tests/data/test_splits_edges.py",
                                "tests/data/test_bad_data.py"], None),
    "rankexp/prompts/core.py": (["tests/prompts"], None),
    "rankexp/models/ranker.py": (["tests/recipes/test_lr_schedule.py"], ["lr_factor"]),
}
TWO_D = "the tensor is 2-D here, so dim 1 is dim -1"
# Survivors that cannot change what the code computes, each with its reason. Keyed by module, the
# mutated line's text, the change and its column: editing that line drops the entry, and the mutant
# counts as a survivor again instead of being excused unread. They leave the killed share's
# denominator and are listed apart in the JSON.
EQUIVALENT: dict[tuple[str, str, str, str, int], str] = {
    ('rankexp/losses/soft_lambda.py', 'expected_positions', 'm = y.shape[-1]', 'drop USub', 16):
        'y is [B, m, m] (checked on the line before): shape[1] == shape[-1]',
    ('rankexp/losses/soft_lambda.py', 'expected_positions', 'm = y.shape[-1]', '1 -> 2', 17):
        'y is [B, m, m] (checked on the line before): shape[-2] == shape[-1]',
    ('rankexp/losses/soft_lambda.py', '_ranks', 'return ranks.scatter_(-1, order, positions)', 'drop USub', 26):
        TWO_D,
    ('rankexp/losses/soft_lambda.py', '_ranks', 'order = torch.sort(keys, dim=-1, descending=descending, stable=True).indices', 'drop USub', 33):
        TWO_D,
    ('rankexp/losses/soft_lambda.py', '_ranks', 'positions = torch.arange(1, keys.shape[-1] + 1, device=keys.device).expand_as(order)', 'drop USub', 43):
        TWO_D,
    ('rankexp/losses/soft_lambda.py', 'expected_positions', 'n_valid = mask.sum(-1, keepdim=True).clamp_min(1)  # an empty list keeps one slot: no NaN', 'drop USub', 27):
        TWO_D,
    ('rankexp/losses/perm_kl.py', '_log_rows', 'return log_p.masked_fill(~item_ok, 0.0)', '0.0 -> 1.0', 39):
        "padded items' log-probabilities are never read: _kl zeroes their terms with the same item_ok",
    ('rankexp/losses/perm_kl.py', 'permutation_kl', 'slot_ok = torch.arange(slots, device=y_orig.device)[None, :] < mask.sum(-1, keepdim=True)', 'drop USub', 80):
        TWO_D,
    ('rankexp/losses/perm_kl.py', 'PermutationKLLoss.on_scores', 'return self.forward(torch.softmax(scores_orig.float(), -1)[:, None], torch.softmax(scores_perm.float(), -1)[:, None])', 'drop USub', 63):
        TWO_D,
    ('rankexp/losses/perm_kl.py', 'PermutationKLLoss.on_scores', 'return self.forward(torch.softmax(scores_orig.float(), -1)[:, None], torch.softmax(scores_perm.float(), -1)[:, None])', 'drop USub', 112):
        TWO_D,
    ('rankexp/losses/__init__.py', '_shipped_params', 'return dict(OmegaConf.to_container(OmegaConf.load(path), resolve=True))', 'True -> False', 69):
        'the shipped conf/loss/*.yaml hold no interpolation to resolve',
    ('rankexp/evaluation/metrics.py', 'RankingMetrics', 'full_state_update = False', 'False -> True', 24):
        'a torchmetrics speed hint: forward() gives the same values either way',
    ('rankexp/evaluation/metrics.py', 'RankingMetrics', 'higher_is_better = True', 'True -> False', 23):
        "metadata for torchmetrics' plots and trackers; rankexp takes the monitor's mode from its config",
    ('rankexp/evaluation/metrics.py', '_ndcg', 'disc = 1.0 / torch.log2(torch.arange(2, k + 2, device=ranked.device, dtype=torch.float32))', '1.0 -> 2.0', 11):
        'scales DCG and the ideal DCG alike; NDCG is their ratio',
    ('rankexp/evaluation/metrics.py', '_ndcg', 'dcg = (ranked[:, :k] * disc).sum(-1)', 'drop USub', 37):
        TWO_D,
    ('rankexp/evaluation/metrics.py', '_ndcg', 'idcg = (ideal[:, :k] * disc).sum(-1)', 'drop USub', 37):
        TWO_D,
    ('rankexp/evaluation/metrics.py', '_mrr', 'first = hit.float().argmax(-1)  # index of the first True (argmax returns the first maximum)', 'drop USub', 31):
        TWO_D,
    ('rankexp/evaluation/metrics.py', '_mrr', 'return torch.where(hit.any(-1), 1.0 / (first + 1).float(), torch.zeros(hit.shape[0], device=hit.device))', 'drop USub', 31):
        TWO_D,
    ('rankexp/evaluation/metrics.py', '_rank', 'return gains.gather(-1, order), torch.sort(gains, dim=-1, descending=True).values', 'drop USub', 24):
        TWO_D,
    ('rankexp/evaluation/metrics.py', '_rank', 'return gains.gather(-1, order), torch.sort(gains, dim=-1, descending=True).values', 'drop USub', 58):
        TWO_D,
    ('rankexp/evaluation/metrics.py', '_ndcg', 'k = _check_k(k, ranked.shape[-1])', 'drop USub', 33):
        TWO_D,
    ('rankexp/evaluation/metrics.py', '_hr', 'return (ranked[:, : _check_k(k, ranked.shape[-1])] > 0).any(-1).float()', 'drop USub', 49):
        TWO_D,
    ('rankexp/evaluation/metrics.py', '_hr', 'return (ranked[:, : _check_k(k, ranked.shape[-1])] > 0).any(-1).float()', 'drop USub', 64):
        TWO_D,
    ('rankexp/evaluation/metrics.py', '_mrr', 'hit = ranked[:, : _check_k(k, ranked.shape[-1])] > 0', 'drop USub', 47):
        TWO_D,
    ('rankexp/evaluation/metrics.py', '_rank', 'order = torch.sort(keys, dim=-1, descending=True, stable=True).indices', 'drop USub', 33):
        TWO_D,
    ('rankexp/evaluation/metrics.py', 'RankingMetrics.update', 'stacked = torch.stack([values[key] for key in self.keys], dim=-1).double()  # [B, n]', 'drop USub', 70):
        'stacking 1-D tensors: the new axis -1 is axis 1',
    ('rankexp/evaluation/metrics.py', 'RankingMetrics.standard_errors', 'return {key: (var[i] / count.clamp_min(1)).sqrt().float() for i, key in enumerate(self.keys)}', '1 -> 2', 47):
        'count is 0 or >= 1, and with 0 or 1 list the variance is 0',
    ('rankexp/data/splits.py', 'Split', '@dataclass(frozen=True)', 'True -> False', 18):
        "nothing assigns to a split's fields; frozen only makes such code fail",
    ('rankexp/data/splits.py', 'ListwiseSplit', '@dataclass(frozen=True)', 'True -> False', 18):
        "nothing assigns to a split's fields; frozen only makes such code fail",
    ('rankexp/data/splits.py', 'History.__init__', 'n = int(users.max()) + 2 if len(frame) else 1', '1 -> 2', 52):
        "an empty table: every user's history is empty with one or two zero offsets",
    ('rankexp/data/splits.py', 'History.__init__', 'n = int(users.max()) + 2 if len(frame) else 1', '2 -> 3', 31):
        "one more offset past the last user, equal to the row count: that user's history is empty as before",
    ('rankexp/data/splits.py', 'leave_one_out', 'from_end = liked[::-1].groupby(frame["user"][::-1]).cumsum()[::-1] - 1', 'drop USub', 51):
        'groupby aligns the keys on the index, whatever their order',
    ('rankexp/data/splits.py', 'leave_one_out', 'from_end = liked[::-1].groupby(frame["user"][::-1]).cumsum()[::-1] - 1', 'drop USub', 67):
        'the Series is combined with others by index, whatever its order',
    ('rankexp/data/splits.py', 'History.before', 'earlier = (times < timestamp) | ((times == timestamp) & (items < (item if item is not None else -1)))', '1 -> 2', 109):
        'item ids are 0..n-1 (RatingData numbers them so): none is below -1 or -2',
    ('rankexp/prompts/core.py', 'label_lines', 'newline = ids[1] if len(ids) > 1 else encode(tokenizer, "\\n")[-1]', '1 -> 2', 35):
        'label-line ids have odd length 2n - 1 (checked above): more than 1 is more than 2',
    ('rankexp/models/ranker.py', 'lr_factor.factor', 'if step < warmup:', 'Lt -> LtE', 11):
        'at step == warmup both branches give 1.0: (warmup + 1) / (warmup + 1), and decay progress 0',
}
SWAPS = {
    ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Div, ast.Div: ast.Mult, ast.FloorDiv: ast.Div,
    ast.Pow: ast.Mult, ast.Mod: ast.FloorDiv,
    ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt, ast.Eq: ast.NotEq, ast.NotEq: ast.Eq,
    ast.Is: ast.IsNot, ast.IsNot: ast.Is, ast.In: ast.NotIn, ast.NotIn: ast.In,
    ast.And: ast.Or, ast.Or: ast.And,
}
QUIET_CALLS = {"info", "debug", "warning", "warn", "error", "exception"}


@dataclass
class Mutant:
    module: str
    index: int
    scope: str
    line: int
    col: int
    change: str
    source_line: str
    outcome: str = ""


def _skipped_nodes(tree: ast.AST) -> set[int]:
    """ids of nodes whose mutation could not change a result: docstrings, annotations, messages."""
    skip: set[int] = set()

    def mark(node: ast.AST | None) -> None:
        if node is not None:
            skip.update(id(n) for n in ast.walk(node))

    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            mark(node.returns)
            for arg in [*node.args.args, *node.args.kwonlyargs, *node.args.posonlyargs,
                        node.args.vararg, node.args.kwarg]:
                if arg is not None:
                    mark(arg.annotation)
        if isinstance(node, ast.AnnAssign):
            mark(node.annotation)
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                mark(first)
        if isinstance(node, ast.Raise):
            mark(node.exc)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in QUIET_CALLS:
            mark(node)
        if isinstance(node, ast.JoinedStr):
            mark(node)
    return skip


def _in_functions(tree: ast.AST, names: list[str] | None) -> set[int] | None:
    if names is None:
        return None
    keep: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name in names:
            keep.update(id(n) for n in ast.walk(node))
    return keep


def mutation_points(tree: ast.AST, functions: list[str] | None) -> list[tuple[ast.AST, str, object]]:
    """(node, description, how) for every mutation of `tree`; `how` is what `apply` does."""
    skip, keep = _skipped_nodes(tree), _in_functions(tree, functions)
    points: list[tuple[ast.AST, str, object]] = []
    for node in ast.walk(tree):
        if id(node) in skip or (keep is not None and id(node) not in keep):
            continue
        if isinstance(node, (ast.BinOp, ast.AugAssign)) and type(node.op) in SWAPS or isinstance(node, ast.BoolOp) and type(node.op) in SWAPS:
            points.append((node, f"{type(node.op).__name__} -> {SWAPS[type(node.op)].__name__}", "op"))
        elif isinstance(node, ast.Compare):
            for i, op in enumerate(node.ops):
                if type(op) in SWAPS:
                    points.append((node, f"{type(op).__name__} -> {SWAPS[type(op)].__name__}", ("cmp", i)))
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.Not, ast.USub)):
            points.append((node, f"drop {type(node.op).__name__}", "unary"))
        elif isinstance(node, ast.Constant) and isinstance(node.value, bool):
            points.append((node, f"{node.value} -> {not node.value}", "bool"))
        elif isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
            points.append((node, f"{node.value!r} -> {node.value + 1!r}", "plus_one"))
    return points


def mutated_source(source: str, functions: list[str] | None, index: int) -> str:
    tree = ast.parse(source)
    node, _, how = mutation_points(tree, functions)[index]
    if how == "op":
        node.op = SWAPS[type(node.op)]()
    elif isinstance(how, tuple):
        node.ops[how[1]] = SWAPS[type(node.ops[how[1]])]()
    elif how == "unary":
        replacement = node.operand
        for parent in ast.walk(tree):
            for field, value in ast.iter_fields(parent):
                if value is node:
                    setattr(parent, field, replacement)
                elif isinstance(value, list):
                    value[:] = [replacement if v is node else v for v in value]
    elif how == "bool":
        node.value = not node.value
    elif how == "plus_one":
        node.value = node.value + 1
    return ast.unparse(ast.fix_missing_locations(tree))


def _scopes(tree: ast.AST) -> dict[int, str]:
    """id(node) -> the dotted name of the innermost class or function holding it (decorators included)."""
    scopes: dict[int, str] = {}

    def visit(node: ast.AST, scope: str) -> None:
        for child in ast.iter_child_nodes(node):
            inner = (f"{scope}.{child.name}".lstrip(".")
                     if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) else scope)
            scopes[id(child)] = inner
            visit(child, inner)

    visit(tree, "")
    return scopes


def list_mutants(path: str) -> list[Mutant]:
    source = (REPO / path).read_text()
    lines = source.splitlines()
    tree = ast.parse(source)
    scopes = _scopes(tree)
    return [Mutant(path, i, scopes.get(id(node), ""), node.lineno, node.col_offset, change,
                   lines[node.lineno - 1].strip())
            for i, (node, change, _) in enumerate(mutation_points(tree, TARGETS[path][1]))]


class _MutatedModule(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Serves `name` from `source` (compiled under the real file name) instead of the file on disk."""

    def __init__(self, name: str, filename: str, source: str) -> None:
        self.name, self.filename, self.source = name, filename, source

    def find_spec(self, fullname, path, target=None):
        if fullname != self.name:
            return None
        is_package = self.filename.endswith("__init__.py")
        return importlib.util.spec_from_file_location(
            fullname, self.filename, loader=self,
            submodule_search_locations=[str(Path(self.filename).parent)] if is_package else None)

    def create_module(self, spec):
        return None

    def exec_module(self, module) -> None:
        exec(compile(self.source, self.filename, "exec"), module.__dict__)  # noqa: S102 - our own mutated source


def _module_name(path: str) -> str:
    return path.removesuffix(".py").removesuffix("/__init__").replace("/", ".")


def run_tests_in_child(path: str, source: str | None, tests: list[str]) -> int:
    """Fork; the child imports rankexp fresh (mutated where `source` is given) and runs `tests`."""
    pid = os.fork()
    if pid:
        return pid
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        if source is not None:
            sys.meta_path.insert(0, _MutatedModule(_module_name(path), str(REPO / path), source))
        import pytest

        code = pytest.main(["-x", "-q", "-m", "not slow", "-p", "no:cacheprovider", "-p", "no:randomly",
                            "--rootdir", str(REPO), *tests])
        os._exit(int(code))
    except BaseException:  # noqa: BLE001 - a mutant that breaks the import is killed
        os._exit(3)


def _key(mutant: Mutant) -> tuple[str, str, str, str, int]:
    """What an EQUIVALENT entry names: module, enclosing def/class, the line's text, the change, its column."""
    return (mutant.module, mutant.scope, mutant.source_line, mutant.change, mutant.col)


def check_equivalents(paths: list[str]) -> None:
    """Every EQUIVALENT entry names exactly one existing mutant: a stale entry would excuse nothing, and one
    matching several would excuse a new copy of its line unread."""
    matches: dict[tuple, int] = {}
    for path in paths:
        for mutant in list_mutants(path):
            matches[_key(mutant)] = matches.get(_key(mutant), 0) + 1
    wrong = [(key, matches.get(key, 0)) for key in EQUIVALENT if key[0] in paths and matches.get(key, 0) != 1]
    if wrong:
        sys.exit("error: EQUIVALENT entries must each match one mutant: "
                 + "; ".join(f"{k[0]} {k[1]}: {k[3]} at col {k[4]} of {k[2]!r} matches {n}" for k, n in wrong))


def module_report(tests: list[str], mutants: list[Mutant]) -> dict:
    """Counts, the share killed among the mutants that can change a result, survivors and equivalents."""
    killed = sum(m.outcome in ("killed", "timeout") for m in mutants)
    equivalent = [m for m in mutants if m.outcome == "equivalent"]
    survivors = [m for m in mutants if m.outcome == "survived"]
    fields = ("scope", "line", "col", "change", "source_line")
    return {"tests": tests, "mutants": len(mutants), "equivalent": len(equivalent), "killed": killed,
            "survived": len(survivors), "killed_share": round(killed / max(1, len(mutants) - len(equivalent)), 4),
            "survivors": [{k: asdict(m)[k] for k in fields} for m in survivors],
            "equivalents": [{k: asdict(m)[k] for k in fields} | {"why": EQUIVALENT[_key(m)]} for m in equivalent]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2, help="mutants tested at once (one CPU thread each)")
    parser.add_argument("--timeout", type=float, default=180.0, help="seconds before a mutant counts as killed")
    parser.add_argument("--only", nargs="*", default=None, help="module files to mutate (default: all targets)")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    os.chdir(REPO)
    sys.path.insert(0, str(REPO))
    # the heavy libraries once, before any fork; rankexp itself is imported by each child
    import lightning  # noqa: F401
    import numpy  # noqa: F401
    import pandas  # noqa: F401
    import pytest  # noqa: F401
    import scipy.stats  # noqa: F401
    import torch
    import transformers  # noqa: F401

    from rankexp.models.loading import cpu_bf16_is_fast

    isa = "native bf16" if cpu_bf16_is_fast() else "no native bf16"
    torch.set_num_threads(1)
    for name in [m for m in sys.modules if m == "rankexp" or m.startswith(("rankexp.", "tests"))]:
        del sys.modules[name]
    paths = args.only or list(TARGETS)
    check_equivalents(paths)
    disproved: list[tuple] = []
    started = time.perf_counter()
    report: dict = {"command": "python experiments/mutate.py " + " ".join(sys.argv[1:]),
                    "machine": f"{platform.machine()}, {os.cpu_count()} CPUs ({isa}), {args.jobs} mutants at a time, "
                               "1 thread each",
                    "modules": {}}
    for path in paths:
        tests = TARGETS[path][0]
        pid = run_tests_in_child(path, None, tests)
        if os.waitpid(pid, 0)[1] != 0:
            sys.exit(f"error: the unmutated {path} fails its tests {tests}; fix them before mutating")
        mutants = list_mutants(path)
        source = (REPO / path).read_text()
        running: dict[int, tuple[Mutant, float]] = {}
        queue = list(mutants)
        while queue or running:
            while queue and len(running) < args.jobs:
                mutant = queue.pop(0)
                child = run_tests_in_child(path, mutated_source(source, TARGETS[path][1], mutant.index), tests)
                running[child] = (mutant, time.perf_counter())
            pid, status = os.waitpid(-1, os.WNOHANG)
            if pid == 0:
                for child, (mutant, start) in list(running.items()):
                    if time.perf_counter() - start > args.timeout:
                        os.kill(child, signal.SIGKILL)
                        os.waitpid(child, 0)
                        mutant.outcome = "timeout"
                        del running[child]
                time.sleep(0.05)
                continue
            mutant, _ = running.pop(pid)
            mutant.outcome = "survived" if os.waitstatus_to_exitcode(status) == 0 else "killed"
        for mutant in mutants:
            if mutant.outcome == "survived" and _key(mutant) in EQUIVALENT:
                mutant.outcome = "equivalent"
            elif _key(mutant) in EQUIVALENT:
                disproved.append(_key(mutant))  # a test told it apart: the claim is wrong
        report["modules"][path] = module_report(tests, mutants)
        row = report["modules"][path]
        print(f"{path}: {row['killed']}/{row['mutants'] - row['equivalent']} killed, {row['survived']} survived, "
              f"{row['equivalent']} equivalent", flush=True)
    rows = report["modules"].values()
    total, killed, equivalent = (sum(m[key] for m in rows) for key in ("mutants", "killed", "equivalent"))
    report |= {"mutants": total, "equivalent": equivalent, "killed": killed, "survived": total - equivalent - killed,
               "disproved_equivalents": [list(key) for key in disproved],
               "killed_share": round(killed / max(1, total - equivalent), 4),
               "wall_time_s": round(time.perf_counter() - started, 1)}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(report, indent=1) + "\n")
    tmp.replace(args.out)
    print(f"{killed}/{total - equivalent} mutants killed ({report['killed_share']:.1%}), {equivalent} equivalent "
          f"left out; {args.out}")
    if disproved:
        sys.exit(f"error: {len(disproved)} EQUIVALENT entries were killed by a test, so they are not equivalent: "
                 + "; ".join(f"{k[0]} {k[1]}: {k[3]} at col {k[4]}" for k in disproved))


if __name__ == "__main__":
    main()
