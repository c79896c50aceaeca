"""Every package's public modules declare ``__all__``, and it names only what exists.

Public modules are those whose dotted path has no part starting with ``_``, found
recursively. A package root re-exports the public names of its library modules; an
application package (the package of a console script in ``[project.scripts]``, such as
``klaw_ray.cli``) is a program built on the library, so its names stay its own.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import tomllib
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ["klaw_types", "klaw_wire", "klaw_config", "klaw_ray"]


def _application_packages() -> set[str]:
    """Packages that hold a console script's entry point, e.g. ``klaw_ray.cli``."""
    found: set[str] = set()
    for pyproject in sorted(ROOT.glob("packages/*/pyproject.toml")):
        project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
        for target in project.get("scripts", {}).values():
            module = target.split(":")[0]
            found.add(module if _is_package(module) else module.rsplit(".", 1)[0])
    return found


def _is_package(name: str) -> bool:
    return hasattr(importlib.import_module(name), "__path__")


def _public_modules() -> list[str]:
    names: list[str] = []
    for package_name in PACKAGES:
        package = importlib.import_module(package_name)
        names.append(package_name)
        for info in pkgutil.walk_packages(package.__path__, prefix=f"{package_name}."):
            if not any(part.startswith("_") for part in info.name.split(".")):
                names.append(info.name)
    return names


def _import(name: str) -> ModuleType:
    return importlib.import_module(name)


def _in_application(module_name: str) -> bool:
    return any(
        module_name == app or module_name.startswith(f"{app}.") for app in _application_packages()
    )


def test_the_application_is_found_from_the_console_scripts() -> None:
    assert _application_packages() == {"klaw_ray.cli"}


@pytest.mark.parametrize("module_name", _public_modules())
def test_public_module_declares_all_and_every_name_exists(module_name: str) -> None:
    module = _import(module_name)
    assert module.__doc__, f"{module_name} has no module docstring"
    exported = getattr(module, "__all__", None)
    assert exported is not None, f"{module_name} has no __all__"
    assert len(set(exported)) == len(exported), f"{module_name}.__all__ repeats a name"
    missing = [name for name in exported if not hasattr(module, name)]
    assert missing == []


@pytest.mark.parametrize("module_name", _public_modules())
def test_public_classes_and_functions_have_docstrings(module_name: str) -> None:
    module = _import(module_name)
    undocumented = [
        name
        for name in getattr(module, "__all__", [])
        if (inspect.isclass(obj := getattr(module, name)) or inspect.isfunction(obj))
        and not inspect.getdoc(obj)
    ]
    assert undocumented == []


@pytest.mark.parametrize("package_name", PACKAGES)
def test_package_root_re_exports_its_library_modules_public_names(package_name: str) -> None:
    package = _import(package_name)
    for module_name in _public_modules():
        if not module_name.startswith(f"{package_name}.") or _in_application(module_name):
            continue
        module = _import(module_name)
        not_reexported = [n for n in getattr(module, "__all__", []) if n not in package.__all__]
        assert not_reexported == [], f"{module_name} exports names the package root does not"
