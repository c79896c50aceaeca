"""Imports point down the layers only, and every package declares what it imports."""

from __future__ import annotations

import ast
import tomllib
from collections.abc import Iterable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Bottom to top. A package may import only itself and the packages before it.
LAYERS = ["klaw-types", "klaw-wire", "klaw-config", "klaw-ray"]


def _module_name(distribution: str) -> str:
    return distribution.replace("-", "_")


def _klaw_imports(path: Path) -> set[str]:
    """Top-level ``klaw_*`` modules that ``path`` imports, lazily or not."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        found.update(n.split(".")[0] for n in names if n.split(".")[0].startswith("klaw_"))
    return found


def _declared_klaw_dependencies(distribution: str) -> set[str]:
    pyproject = ROOT / "packages" / distribution / "pyproject.toml"
    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    names = {
        dep.split(">")[0].split("=")[0].split("[")[0].strip() for dep in project["dependencies"]
    }
    return {name for name in names if name.startswith("klaw-")}


@pytest.mark.parametrize("distribution", LAYERS)
def test_declared_dependencies_point_down(distribution: str) -> None:
    below = set(LAYERS[: LAYERS.index(distribution)])
    assert _declared_klaw_dependencies(distribution) <= below


@pytest.mark.parametrize("distribution", LAYERS)
def test_no_package_imports_from_a_layer_above_or_undeclared(distribution: str) -> None:
    allowed = {_module_name(d) for d in _declared_klaw_dependencies(distribution)}
    allowed.add(_module_name(distribution))
    package_dir = ROOT / "packages" / distribution
    files = [
        path
        for folder in ("src", "tests", "benchmarks")
        for path in sorted((package_dir / folder).rglob("*.py"))
    ]
    assert files, f"no Python files found under {package_dir}"
    offenders = {
        str(path.relative_to(ROOT)): sorted(_klaw_imports(path) - allowed)
        for path in files
        if _klaw_imports(path) - allowed
    }
    assert offenders == {}


def test_the_checker_sees_imports(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import klaw_ray.ray._actor\nfrom klaw_wire import codec\n"
        "def f():\n    from klaw_config import load_config\n",
        encoding="utf-8",
    )
    assert _klaw_imports(sample) == {"klaw_ray", "klaw_wire", "klaw_config"}


# --- the layout inside each package --------------------------------------------------------


def _modules_of(distribution: str) -> dict[str, Path]:
    """Every module of a package's source tree, by dotted name."""
    src = ROOT / "packages" / distribution / "src"
    modules: dict[str, Path] = {}
    for path in sorted(src.rglob("*.py")):
        parts = list(path.relative_to(src).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def _runtime_imports(path: Path, modules: Iterable[str] = ()) -> set[str]:
    """Dotted modules ``path`` imports at run time (lazily or not; not TYPE_CHECKING-only).

    ``from package import name`` counts as importing ``package.name`` when that is one
    of ``modules``, and ``package`` otherwise.
    """
    known = set(modules)
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    type_checking_only: set[int] = set()
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.If)
            and isinstance(node.test, ast.Name)
            and node.test.id == "TYPE_CHECKING"
        ):
            type_checking_only.update(id(inner) for stmt in node.body for inner in ast.walk(stmt))
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in type_checking_only:
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            for alias in node.names:
                submodule = f"{node.module}.{alias.name}"
                found.add(submodule if submodule in known else node.module)
    return found


def _import_graph(distribution: str) -> dict[str, set[str]]:
    """Module -> the package's own modules it imports (a submodule, when one is named)."""
    modules = _modules_of(distribution)
    return {
        name: {i for i in _runtime_imports(path, modules) if i in modules} - {name}
        for name, path in modules.items()
    }


def _cycle(graph: dict[str, set[str]]) -> list[str]:
    """One import cycle of ``graph``, or ``[]``."""
    done: set[str] = set()
    stack: list[str] = []

    def visit(node: str) -> list[str]:
        if node in stack:
            return [*stack[stack.index(node) :], node]
        if node in done:
            return []
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if found := visit(nxt):
                return found
        stack.pop()
        done.add(node)
        return []

    for start in sorted(graph):
        if found := visit(start):
            return found
    return []


@pytest.mark.parametrize("distribution", LAYERS)
def test_no_import_cycle_among_a_packages_modules(distribution: str) -> None:
    graph = _import_graph(distribution)
    assert len(graph) > 1
    assert _cycle(graph) == []


def test_the_cycle_finder_finds_cycles() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) == []


def _in(module: str, package: str) -> bool:
    return module == package or module.startswith(f"{package}.")


def test_only_the_ray_backend_and_the_application_import_ray() -> None:
    importing_ray = {
        name
        for name, path in _modules_of("klaw-ray").items()
        if any(_in(imported, "ray") for imported in _runtime_imports(path))
    }
    assert importing_ray, "the Ray backend imports Ray somewhere"
    outside = {
        name
        for name in importing_ray
        if not (_in(name, "klaw_ray.ray") or _in(name, "klaw_ray.cli"))
    }
    assert outside == set()


def test_the_library_never_imports_the_application() -> None:
    offenders = {
        name: sorted(i for i in imports if _in(i, "klaw_ray.cli"))
        for name, imports in _import_graph("klaw-ray").items()
        if not _in(name, "klaw_ray.cli") and name != "klaw_ray.__main__"
    }
    assert {name: found for name, found in offenders.items() if found} == {}
