"""Imports point down the layers only, and every package declares what it imports."""

from __future__ import annotations

import ast
import tomllib
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
        "import klaw_ray.actor\nfrom klaw_wire import codec\n"
        "def f():\n    from klaw_config import load_config\n",
        encoding="utf-8",
    )
    assert _klaw_imports(sample) == {"klaw_ray", "klaw_wire", "klaw_config"}
