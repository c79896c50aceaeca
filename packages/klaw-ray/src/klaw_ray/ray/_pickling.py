"""Ship msgspec ``Struct`` classes defined in ``__main__`` to Ray workers, fields and all.

Ray pickles classes that cannot be imported by name (those defined in a script's or a
notebook's ``__main__``, or inside a function) *by value*, with its bundled cloudpickle.
cloudpickle rebuilds such a class with ``types.new_class`` and then copies its attributes
onto it. msgspec's ``StructMeta`` reads fields and options only while the class is being
created, so the rebuilt class has no fields at all: constructing it fails with "Extra
positional arguments provided" and decoding into it silently yields empty objects (msgspec
issue #394, cloudpickle issue #527). Registering a ``copyreg`` reducer does not help:
cloudpickle's ``reducer_override`` handles every class before ``copyreg`` is consulted.

:func:`install` replaces cloudpickle's reduction of by-value classes, for ``StructMeta``
classes only, with one that recreates the class through ``StructMeta`` with its fields
(types resolved in the sending process), defaults and options, then sets its other
attributes (methods, docstring) as cloudpickle does. Every other class keeps cloudpickle's
own handling. It is installed when klaw-ray's Ray backend is imported, which happens in the
driver and in every worker that unpickles a klaw channel handle.

A struct whose fields refer to the struct itself (a recursive type) cannot be rebuilt this
way; :func:`check_shippable` says so, with the fix: define the type in an importable module.
"""

from __future__ import annotations

import inspect
import types
import typing
from collections.abc import Callable
from typing import Any, Final

import msgspec
from ray.cloudpickle import cloudpickle as _cloudpickle

__all__ = ["UnshippableTypeError", "check_shippable", "install"]

_STRUCT_META: Final = type(msgspec.Struct)
_cp: Any = _cloudpickle  # its helpers are untyped; this module relies on five of them

# Class attributes that StructMeta creates or that describe fields; never copied by hand.
_GENERATED: Final = frozenset(
    {
        "__annotations__",
        "__dict__",
        "__match_args__",
        "__module__",
        "__orig_bases__",
        "__parameters__",
        "__slots__",
        "__weakref__",
        "__struct_config__",
        "__struct_defaults__",
        "__struct_encode_fields__",
        "__struct_fields__",
    }
)
_OPTIONS: Final = (
    "array_like",
    "cache_hash",
    "dict",
    "eq",
    "forbid_unknown_fields",
    "frozen",
    "gc",
    "omit_defaults",
    "order",
    "repr_omit_defaults",
    "weakref",
)


class UnshippableTypeError(TypeError):
    """A value type cannot be sent to Ray workers by value.

    Attributes:
        type_name: The qualified name of the offending class.
    """

    def __init__(self, type_name: str, reason: str) -> None:
        self.type_name = type_name
        super().__init__(
            f"{type_name} cannot be shipped to Ray workers: {reason}. Define it in an "
            "importable module (not in __main__ or inside a function) so that workers "
            "import it by name."
        )


def _own_field_names(cls: type[msgspec.Struct]) -> list[str]:
    own = inspect.get_annotations(cls)
    return [name for name in cls.__struct_fields__ if name in own]


def _mentions(tp: object, cls: type, seen: set[int]) -> bool:
    if tp is cls:
        return True
    if id(tp) in seen:
        return False
    seen.add(id(tp))
    if isinstance(tp, _STRUCT_META) and not _cp._should_pickle_by_reference(tp):
        return any(_mentions(f.type, cls, seen) for f in msgspec.structs.fields(tp))
    return any(_mentions(arg, cls, seen) for arg in typing.get_args(tp))


def check_shippable(tp: object) -> None:
    """Raise if ``tp`` contains a by-value struct that cannot be rebuilt in a worker.

    Args:
        tp: A value type, e.g. ``list[Order]``.

    Raises:
        UnshippableTypeError: A struct defined in ``__main__`` (or a function) refers to
            itself through its fields.
    """
    stack: list[object] = [tp]
    seen: set[int] = set()
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        stack.extend(typing.get_args(current))
        if isinstance(current, _STRUCT_META) and not _cp._should_pickle_by_reference(current):
            try:
                fields = msgspec.structs.fields(current)
            except Exception as exc:
                raise UnshippableTypeError(
                    current.__qualname__, f"its field types cannot be resolved ({exc})"
                ) from exc
            if any(_mentions(f.type, current, set()) for f in fields):
                raise UnshippableTypeError(
                    current.__qualname__, "its fields refer to the class itself"
                )
            stack.extend(f.type for f in fields)


def _struct_options(cls: type[msgspec.Struct]) -> dict[str, Any]:
    config = cls.__struct_config__
    options: dict[str, Any] = {name: getattr(config, name) for name in _OPTIONS}
    if config.tag is not None:
        options["tag"] = config.tag
        options["tag_field"] = config.tag_field
    renamed = dict(zip(cls.__struct_fields__, cls.__struct_encode_fields__, strict=True))
    if any(name != encoded for name, encoded in renamed.items()):
        options["rename"] = renamed
    own = _own_field_names(cls)
    params = inspect.signature(cls).parameters
    if own and all(params[name].kind is inspect.Parameter.KEYWORD_ONLY for name in own):
        options["kw_only"] = True
    return options


def _field_specs(cls: type[msgspec.Struct]) -> list[tuple[str, Any, Any, Any]]:
    """``(name, resolved type, default, default factory)`` of the fields ``cls`` declares.

    A missing default or factory is ``None`` here (``msgspec.NODEFAULT`` does not pickle).
    """
    info = {f.name: f for f in msgspec.structs.fields(cls)}
    specs: list[tuple[str, Any, Any, Any]] = []
    for name in _own_field_names(cls):
        field = info[name]
        has_default = field.default is not msgspec.NODEFAULT
        has_factory = field.default_factory is not msgspec.NODEFAULT
        specs.append(
            (
                name,
                field.type,
                (field.default,) if has_default else None,
                field.default_factory if has_factory else None,
            )
        )
    return specs


def _rebuild_struct(
    name: str,
    qualname: str,
    module: str,
    bases: tuple[Any, ...],
    fields: list[tuple[str, Any, Any, Any]],
    options: dict[str, Any],
    tracker_id: str,
) -> type:
    """Recreate a struct class through ``StructMeta`` (runs in the unpickling process)."""

    def fill(namespace: dict[str, Any]) -> None:
        namespace["__module__"] = module
        namespace["__qualname__"] = qualname
        namespace["__annotations__"] = {field[0]: field[1] for field in fields}
        for field_name, _, default, factory in fields:
            if default is not None:
                namespace[field_name] = default[0]
            elif factory is not None:
                namespace[field_name] = msgspec.field(default_factory=factory)

    cls = types.new_class(name, bases, options, fill)
    rebuilt: type = _cp._lookup_class_or_track(tracker_id, cls)
    return rebuilt


def _struct_reduce(cls: type[msgspec.Struct]) -> tuple[Any, ...]:
    check_shippable(cls)
    clsdict, slotstate = _cp._class_getstate(cls)
    own = set(_own_field_names(cls))
    state = {k: v for k, v in clsdict.items() if k not in _GENERATED and k not in own}
    bases = cls.__dict__.get("__orig_bases__", cls.__bases__)
    args = (
        cls.__name__,
        cls.__qualname__,
        cls.__module__,
        tuple(bases),
        _field_specs(cls),
        _struct_options(cls),
        _cp._get_or_create_tracker_id(cls),
    )
    return (_rebuild_struct, args, (state, slotstate), None, None, _cp._class_setstate)


_original_reduce: Callable[[type], Any] | None = None


def _dynamic_class_reduce(obj: type) -> Any:
    if isinstance(obj, _STRUCT_META):
        return _struct_reduce(obj)
    assert _original_reduce is not None
    return _original_reduce(obj)


def install() -> None:
    """Make Ray's cloudpickle ship by-value msgspec structs with their fields. Idempotent."""
    global _original_reduce  # noqa: PLW0603 - one process-wide hook, installed once
    if _original_reduce is not None:
        return
    _original_reduce = _cp._dynamic_class_reduce
    _cp._dynamic_class_reduce = _dynamic_class_reduce
