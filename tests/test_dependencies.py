"""What the product imports at run time is declared in pyproject.toml's dependencies.

`make run` and the test suite install the dev extras too, so a module imported by the
product but only listed there (or only installed as another package's dependency)
works on every developer machine and fails to import in a production install. This
reads every import of the product's own code and checks each third-party one against
the project's declared runtime dependencies.
"""

from __future__ import annotations

import ast
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
PRODUCT = ("config", "crm", "marketplace", "workflows", "openai_simulator", "ops")


def _declared() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return {
        canonicalize_name(Requirement(requirement).name) for requirement in project["dependencies"]
    }


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_every_third_party_module_the_product_imports_is_a_declared_dependency():
    distributions = packages_distributions()
    declared = _declared()
    undeclared: dict[str, set[str]] = {}
    for package in PRODUCT:
        for path in (ROOT / package).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            for name in _imports(path):
                if name in sys.stdlib_module_names or name in PRODUCT or name == "__future__":
                    continue
                providers = {canonicalize_name(d) for d in distributions.get(name, [name])}
                if not providers & declared:
                    undeclared.setdefault(name, set()).add(str(path.relative_to(ROOT)))
    assert undeclared == {}, (
        "imported at run time but not in [project] dependencies of pyproject.toml "
        f"(a production install would fail): {undeclared}"
    )
