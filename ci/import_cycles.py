"""Fail if the ntpprops package has an import cycle, counting in-function imports.

Every ``import`` / ``from ... import`` between ntpprops modules is an edge, wherever it sits
(module level, inside a function, under ``if TYPE_CHECKING:``), because a cycle hidden in a
function is still a cycle: the two modules cannot be understood or tested apart. An import
of a package (``from ntpprops import x``) is an edge to the package's ``__init__`` unless
``x`` is a submodule. Prints each elementary cycle (one per line) and the in-function imports
of ntpprops modules (informational), and exits 1 if there is any cycle.

Usage: ``python ci/import_cycles.py [checkout]`` (default: the checkout holding ``ci/``).
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

# pyproject.toml's package-dir: the strategies ship as ntpprops.strategies from ./strategies.
PACKAGE_DIRS = {"ntpprops": "ntpprops", "ntpprops.strategies": "strategies"}


def packages_under(root: Path) -> dict[str, Path]:
    """The package directories of a checkout at ``root``."""
    return {name: root / rel for name, rel in PACKAGE_DIRS.items()}


def module_names(packages: dict[str, Path]) -> dict[str, Path]:
    """Map each dotted module name to its file, given each package's name and directory."""
    names = {}
    for package, package_dir in packages.items():
        for path in sorted(package_dir.rglob("*.py")):
            parts = list(path.relative_to(package_dir).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            names[".".join([package, *parts])] = path
    return names


def _resolve(module: str, level: int, current: str, is_package: bool) -> str:
    """The absolute name of ``from <level dots><module> import ...`` inside ``current``."""
    if level == 0:
        return module
    base = current.split(".") if is_package else current.split(".")[:-1]
    base = base[: len(base) - (level - 1)]
    return ".".join([*base, module] if module else base)


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The ntpprops modules that ``name`` imports anywhere in its body."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    return _targets(tree, name, path.name == "__init__.py", modules)


def _targets(tree: ast.AST, name: str, is_package: bool, modules: dict[str, Path]) -> set[str]:
    """The ntpprops modules imported anywhere in ``tree`` (the code of module ``name``)."""
    found: set[str] = set()
    for node in ast.walk(tree):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(node.module or "", node.level, name, is_package)
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                targets.append(sub if sub in modules else base)
        for target in targets:
            # `import ntpprops.a.b` depends on the longest module prefix that exists.
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def _sccs(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one node (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    top = stack.pop()
                    on_stack.discard(top)
                    component.append(top)
                    if top == node:
                        break
                if len(component) > 1:
                    out.append(sorted(component))
    return out


def elementary_cycles(graph: dict[str, set[str]]) -> Iterator[list[str]]:
    """Each simple cycle once, starting at its smallest module name (small graphs only)."""
    for component in _sccs(graph):
        members = set(component)
        for start in component:
            yield from _cycles_from(graph, members, start, [start])


def _cycles_from(
    graph: dict[str, set[str]], members: set[str], start: str, path: list[str]
) -> Iterator[list[str]]:
    """Cycles through ``start`` extending ``path`` with members larger than ``start``."""
    for nxt in sorted(graph[path[-1]] & members):
        if nxt == start:
            yield list(path)
        elif nxt > start and nxt not in path:
            yield from _cycles_from(graph, members, start, [*path, nxt])


def lazy_imports(packages: dict[str, Path]) -> list[tuple[str, int, str]]:
    """``(module, line, imported module)`` for every ntpprops import inside a function.

    Such an import hides a dependency; the rule is module-level imports between ntpprops
    modules, and lazy imports only for optional heavy third-party packages.
    """
    modules = module_names(packages)
    found = []
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for func in ast.walk(tree):
            if not isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for node in ast.walk(func):
                if isinstance(node, ast.Import | ast.ImportFrom):
                    single = ast.Module(body=[node], type_ignores=[])
                    for target in _targets(single, name, path.name == "__init__.py", modules):
                        found.append((name, node.lineno, target))
    return sorted(set(found))


def import_graph(packages: dict[str, Path]) -> dict[str, set[str]]:
    """Module name -> the ntpprops modules it imports."""
    modules = module_names(packages)
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def main(argv: list[str]) -> int:
    root = Path(argv[1]) if len(argv) > 1 else Path(__file__).resolve().parent.parent
    graph = import_graph(packages_under(root))
    cycles = list(elementary_cycles(graph))
    for cycle in cycles:
        print(" -> ".join([*cycle, cycle[0]]))
    lazy = lazy_imports(packages_under(root))
    for module, line, target in lazy:
        print(f"in-function import: {module}:{line} imports {target}")
    print(f"{len(cycles)} import cycle(s) among {len(graph)} modules; {len(lazy)} in-function")
    return 1 if cycles else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
