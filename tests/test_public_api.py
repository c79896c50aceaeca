"""Every package's public modules declare ``__all__``, and it names only what exists."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from types import ModuleType

import pytest

PACKAGES = ["klaw_types", "klaw_wire", "klaw_config", "klaw_ray"]

# Command-line programs: public modules whose names are not part of the library API.
APPLICATION_MODULES = {"klaw_ray.cli", "klaw_ray.demo", "klaw_ray.bench"}


def _public_modules() -> list[str]:
    names: list[str] = []
    for package_name in PACKAGES:
        package = importlib.import_module(package_name)
        names.append(package_name)
        for info in pkgutil.iter_modules(package.__path__, prefix=f"{package_name}."):
            leaf = info.name.rsplit(".", 1)[-1]
            if not leaf.startswith("_"):
                names.append(info.name)
    return names


def _import(name: str) -> ModuleType:
    return importlib.import_module(name)


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
def test_package_root_re_exports_its_modules_public_names(package_name: str) -> None:
    package = _import(package_name)
    for module_name in _public_modules():
        if not module_name.startswith(f"{package_name}.") or module_name in APPLICATION_MODULES:
            continue
        module = _import(module_name)
        not_reexported = [n for n in getattr(module, "__all__", []) if n not in package.__all__]
        assert not_reexported == [], f"{module_name} exports names the package root does not"
