"""The test suite's own rules, read off its source with :mod:`ast` (so they stay true).

- a ``@given`` test skips a case with ``assume`` (or records it with ``event``), never with a
  bare ``return``: Hypothesis then counts the case as filtered, not as passed;
- no ``assert not a < b`` (or ``>``, ``<=``, ``>=``): it passes when ``a`` is NaN;
- no test module imports another test module: shared code lives in ``_builders``,
  ``_oracles`` or ``properties/_checks``;
- ``EPS`` is defined once, in ``_oracles``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

TESTS = Path(__file__).parent
SOURCES = sorted(TESTS.rglob("*.py"))


def _parsed(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def _is_given(func: ast.FunctionDef) -> bool:
    for deco in func.decorator_list:
        target = deco.func if isinstance(deco, ast.Call) else deco
        name = target.attr if isinstance(target, ast.Attribute) else getattr(target, "id", "")
        if name == "given":
            return True
    return False


def _own_nodes(func: ast.FunctionDef):
    """Nodes of ``func``'s body, not of functions nested in it (their returns are theirs)."""
    stack = list(func.body)
    while stack:
        node = stack.pop()
        yield node
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            stack.extend(ast.iter_child_nodes(node))


def test_the_suite_has_sources():
    assert len(SOURCES) >= 30 and TESTS / "_oracles.py" in SOURCES


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(TESTS)))
def test_no_bare_return_in_a_given_test(path):
    bad = [
        f"{path.name}:{node.lineno}"
        for func in ast.walk(_parsed(path))
        if isinstance(func, ast.FunctionDef) and _is_given(func)
        for node in _own_nodes(func)
        if isinstance(node, ast.Return)
    ]
    assert not bad, f"use assume(...) (or event(...) and a branch) instead of return: {bad}"


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(TESTS)))
def test_no_negated_comparison_in_an_assert(path):
    bad = [
        f"{path.name}:{node.lineno}"
        for node in ast.walk(_parsed(path))
        if isinstance(node, ast.Assert)
        and isinstance(node.test, ast.UnaryOp)
        and isinstance(node.test.op, ast.Not)
        and isinstance(node.test.operand, ast.Compare)
        and any(isinstance(op, ast.Lt | ast.LtE | ast.Gt | ast.GtE) for op in node.test.operand.ops)
    ]
    assert not bad, f"`assert not a < b` passes NaN; assert the comparison itself: {bad}"


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(TESTS)))
def test_no_test_module_imports_another(path):
    imported = []
    for node in ast.walk(_parsed(path)):
        if isinstance(node, ast.ImportFrom) and node.module:
            imported.append(node.module)
        elif isinstance(node, ast.Import):
            imported.extend(alias.name for alias in node.names)
    bad = [name for name in imported if name.split(".")[-1].startswith("test_")]
    assert not bad, f"{path.name} imports test modules {bad}: move shared code to _oracles"


def test_eps_is_defined_once():
    owners = [
        path.name
        for path in SOURCES
        for node in _parsed(path).body
        if isinstance(node, ast.Assign | ast.AnnAssign)
        for target in (node.targets if isinstance(node, ast.Assign) else [node.target])
        if isinstance(target, ast.Name) and target.id == "EPS"
    ]
    assert owners == ["_oracles.py"]
