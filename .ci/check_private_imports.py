"""No `_private` name is imported across modules of the project (ARCHITECTURE.md, rule 2).

`from x import _name`, and `x._name` where x is an imported project module, are refused; a
module's own names, dunders, and third-party modules are not this check's business. Tests may
reach in."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("core", "executors", "verification", "intents", "udc", "assemblyline")


def private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def ours(module: str) -> bool:
    return module.split(".")[0] in PACKAGES


def is_module(dotted: str) -> bool:
    path = ROOT.joinpath(*dotted.split("."))
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists()


def problems(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    found = []
    imported_modules: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if not ours(node.module):
                continue
            for alias in node.names:
                if private(alias.name):
                    found.append(f"{path}:{node.lineno}: imports {node.module}.{alias.name}")
                elif is_module(f"{node.module}.{alias.name}"):
                    imported_modules.add(alias.asname or alias.name)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if ours(alias.name):
                    imported_modules.add(alias.asname or alias.name.split(".")[0])
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and private(node.attr)
            and isinstance(node.value, ast.Name)
            and node.value.id in imported_modules
        ):
            found.append(f"{path}:{node.lineno}: uses {node.value.id}.{node.attr}")
    return found


def main() -> int:
    found = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" not in path.parts:
                found.extend(problems(path.relative_to(ROOT)))
    for line in found:
        print(line)
    if found:
        print(f"{len(found)} private name(s) imported across modules")
        return 1
    print("no private name crosses a module")
    return 0


if __name__ == "__main__":
    sys.exit(main())
