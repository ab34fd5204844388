"""The package has no import cycle and hides no dependency in a function (ci/import_cycles.py)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parent.parent


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("import_cycles", ROOT / "ci" / "import_cycles.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("import_cycles", module)
    spec.loader.exec_module(module)
    return module


def test_no_import_cycle_among_ntpprops_modules() -> None:
    script = _script()
    graph = script.import_graph(script.packages_under(ROOT))
    assert "ntpprops._svm" in graph and "ntpprops.strategies" in graph  # it saw the package
    assert list(script.elementary_cycles(graph)) == []


def test_core_imports_ntpprops_modules_at_module_level_only() -> None:
    # cli/ and checks/ belong to other owners; checks._plugin imports ntpprops lazily on
    # purpose (a pytest plugin loaded by every unrelated test run).
    script = _script()
    lazy = [
        entry
        for entry in script.lazy_imports(script.packages_under(ROOT))
        if not entry[0].startswith(("ntpprops.cli", "ntpprops.checks"))
    ]
    assert lazy == []


def test_the_script_finds_a_cycle_hidden_in_a_function(tmp_path: Path) -> None:
    package = tmp_path / "ntpprops"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "_a.py").write_text("from ntpprops._b import g\n")
    (package / "_b.py").write_text("def g():\n    from ntpprops import _a\n    return _a\n")
    script = _script()
    packages = {"ntpprops": package}
    cycles = list(script.elementary_cycles(script.import_graph(packages)))
    assert cycles == [["ntpprops._a", "ntpprops._b"]]
    assert script.lazy_imports(packages) == [("ntpprops._b", 2, "ntpprops._a")]
    assert script.main(["import_cycles.py", str(tmp_path)]) == 1
