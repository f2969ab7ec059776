"""Load the object that a command-line TARGET names.

A TARGET is `path/to/file.py[:name]` or `package.module[:name]`. A file is
loaded as a top-level module named after the file, with its folder first on
`sys.path` so that it can import modules beside it. A dotted module is imported
with the current folder first on `sys.path`, as `python -m` does. Both entries
stay on `sys.path`, and the file's module stays in `sys.modules`, until the
`loaded_module` block ends, so code that imports lazily at run time still works.

Every problem with the target raises `TargetError`, whose message is one line
meant for the person who typed the command.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import inspect
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Final, TypeVar

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer

__all__ = [
    "Target",
    "TargetError",
    "factory_names",
    "instances",
    "loaded_module",
    "parse_target",
    "resolve",
]

T = TypeVar("T")

_USAGE: Final = "expected path/to/file.py[:name] or package.module[:name]"


class TargetError(Exception):
    """A TARGET that cannot be loaded; the message names the target and the fix."""


@dataclass(frozen=True)
class Target:
    """A parsed TARGET: a file path or a dotted module name, and an optional attribute."""

    location: str
    attribute: str | None
    is_file: bool

    def __str__(self) -> str:
        if self.attribute is None:
            return self.location
        return f"{self.location}:{self.attribute}"


def parse_target(text: str) -> Target:
    """Split TARGET into its location and optional `:name`.

    The last colon separates the name, unless a path follows it, as after the
    drive letter in `C:\\jobs\\daily.py:nightly`. A location that ends in `.py` or contains a
    path separator is a file; anything else must be a dotted module name.
    """
    location, attribute = _split_attribute(text)
    if attribute is not None and not attribute.isidentifier():
        raise TargetError(
            f"invalid name {attribute!r} in TARGET {text!r}: "
            "expected a Python identifier after the last ':'"
        )

    is_file = location.endswith(".py") or "/" in location or "\\" in location
    if not is_file and not all(part.isidentifier() for part in location.split(".")):
        raise TargetError(f"invalid TARGET {text!r}: {_USAGE}")
    return Target(location, attribute, is_file)


def _split_attribute(text: str) -> tuple[str, str | None]:
    if not text:
        raise TargetError(f"empty TARGET: {_USAGE}")

    location, colon, attribute = text.rpartition(":")
    if not colon:
        return text, None

    # A colon followed by a path, as after a Windows drive letter, belongs to the path.
    if "/" in attribute or "\\" in attribute or attribute.endswith(".py"):
        return text, None
    if not location:
        raise TargetError(f"invalid TARGET {text!r}: nothing before ':'; {_USAGE}")
    return location, attribute


@contextmanager
def loaded_module(target: Target) -> Iterator[ModuleType]:
    """Import the target's module and keep its import path in place until the block ends."""
    if target.is_file:
        path = Path(target.location)
        if not path.exists():
            raise TargetError(f"file not found: {target.location}")
        if not path.is_file():
            raise TargetError(f"not a file: {target.location}")
        folder = str(path.resolve().parent)
        with _on_sys_path(folder):
            name = _module_name_for(path)
            try:
                yield _load_file(path, name)
            finally:
                sys.modules.pop(name, None)
    else:
        with _on_sys_path(str(Path.cwd())):
            yield _import_module(target.location)


@contextmanager
def _on_sys_path(folder: str) -> Iterator[None]:
    if folder in sys.path:
        yield
        return
    sys.path.insert(0, folder)
    try:
        yield
    finally:
        # The target may have reordered sys.path; remove our entry wherever it is.
        with suppress(ValueError):
            sys.path.remove(folder)


def _module_name_for(path: Path) -> str:
    # Registering the module under the file's stem lets dataclasses, pickle and
    # sibling modules find it by that name. A stem that is not an identifier, is
    # already imported or is a standard-library name gets a private name, so a
    # job file called `csv.py` cannot replace the real `csv` module.
    stem = path.stem
    in_use = stem in sys.modules or stem in sys.stdlib_module_names
    if stem.isidentifier() and not in_use:
        return stem
    return "__millpond_target_" + re.sub(r"\W", "_", stem) + "__"


class _NoBytecodeLoader(importlib.machinery.SourceFileLoader):
    """Load a source file without writing `__pycache__` beside it, as `python file.py` does."""

    def set_data(self, path: str, data: ReadableBuffer, *, _mode: int = 0o666) -> None:
        pass


def _load_file(path: Path, name: str) -> ModuleType:
    # Files created a moment ago may be missing from the import system's cached
    # folder listings; invalidating makes new sibling modules importable.
    importlib.invalidate_caches()
    loader = _NoBytecodeLoader(name, str(path))
    spec = importlib.util.spec_from_file_location(name, path, loader=loader)
    if spec is None:  # pragma: no cover - a .py path with a loader always gives a spec
        raise TargetError(f"cannot load {path} as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        loader.exec_module(module)
    except SyntaxError as error:
        raise TargetError(_describe_syntax_error(error)) from error
    except Exception as error:
        raise TargetError(f"failed to load {path}: {_describe(error)}") from error
    return module


def _import_module(name: str) -> ModuleType:
    importlib.invalidate_caches()
    try:
        return importlib.import_module(name)
    except SyntaxError as error:
        raise TargetError(_describe_syntax_error(error)) from error
    except ModuleNotFoundError as error:
        if error.name is not None and _is_prefix(error.name, name):
            raise TargetError(
                f"module {name!r} not found: no module named {error.name!r}; "
                "check the name, run from the folder that contains it, or add that "
                "folder to PYTHONPATH (for a file, pass its path ending in .py)"
            ) from error
        raise TargetError(f"failed to import {name}: {_describe(error)}") from error
    except Exception as error:
        raise TargetError(f"failed to import {name}: {_describe(error)}") from error


def _is_prefix(missing: str, requested: str) -> bool:
    return requested == missing or requested.startswith(missing + ".")


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"


def _describe_syntax_error(error: SyntaxError) -> str:
    where = error.filename or "<unknown file>"
    if error.lineno is not None:
        where += f", line {error.lineno}"
    return f"syntax error in {where}: {error.msg}"


def instances(module: ModuleType, cls: type[T]) -> dict[str, T]:
    """Return the module-level instances of `cls` by attribute name.

    An object bound to several names appears once, under the first name in
    definition order.
    """
    found: dict[str, T] = {}
    seen: set[int] = set()
    for attribute, value in vars(module).items():
        if attribute.startswith("__") or not isinstance(value, cls) or id(value) in seen:
            continue
        seen.add(id(value))
        found[attribute] = value
    return found


def factory_names(module: ModuleType, cls: type[T]) -> list[str]:
    """Return the public zero-argument functions of the module annotated to return `cls`.

    Used only to suggest names in error messages; the annotation is read as
    text, so `from __future__ import annotations` does not hide it.
    """
    names = []
    for attribute, value in vars(module).items():
        if attribute.startswith("_") or not inspect.isfunction(value):
            continue
        if value.__module__ != module.__name__ or _required_parameters(value):
            continue
        returns = value.__annotations__.get("return")
        text = returns if isinstance(returns, str) else getattr(returns, "__name__", "")
        if text.rsplit(".", 1)[-1] == cls.__name__:
            names.append(attribute)
    return names


def resolve(module: ModuleType, target: Target, cls: type[T]) -> T:
    """Return the instance of `cls` that the target names.

    Without `:name`, the module must hold exactly one module-level instance.
    With it, the attribute must be an instance or a function that takes no
    arguments and returns one; the function is called here.
    """
    kind = cls.__name__
    available = instances(module, cls)

    if target.attribute is None:
        if len(available) == 1:
            return next(iter(available.values()))
        if available:
            names = ", ".join(available)
            raise TargetError(
                f"{target} defines several {kind}s ({names}); pick one with {target.location}:NAME"
            )
        message = f"no module-level {kind} in {target}"
        factories = factory_names(module, cls)
        if factories:
            message += f"; functions that return one: {', '.join(factories)}"
        raise TargetError(f"{message}; name one with {target.location}:NAME")

    try:
        value = getattr(module, target.attribute)
    except AttributeError:
        raise TargetError(
            f"{target.location} has no attribute {target.attribute!r}; "
            f"{_available_text(module, cls, available)}"
        ) from None

    if isinstance(value, cls):
        return value
    if not callable(value) or isinstance(value, type):
        raise TargetError(
            f"{target} is a {type(value).__name__}, "
            f"expected a {kind} or a function that takes no arguments and returns one"
        )
    return _call_factory(value, target, cls)


def _available_text(module: ModuleType, cls: type[T], available: dict[str, T]) -> str:
    kind = cls.__name__
    parts = []
    if available:
        parts.append(f"available {kind}s: {', '.join(available)}")
    factories = factory_names(module, cls)
    if factories:
        parts.append(f"functions that return a {kind}: {', '.join(factories)}")
    if not parts:
        return f"the module defines no {kind}"
    return "; ".join(parts)


def _call_factory(factory: Callable[..., object], target: Target, cls: type[T]) -> T:
    kind = cls.__name__
    required = _required_parameters(factory)
    if required:
        raise TargetError(
            f"{target} requires arguments ({', '.join(required)}); "
            f"expected a {kind} or a function that takes no arguments and returns one"
        )

    try:
        value = factory()
    except Exception as error:
        raise TargetError(f"calling {target} failed: {_describe(error)}") from error
    if not isinstance(value, cls):
        raise TargetError(f"{target} returned a {type(value).__name__}, expected a {kind}")
    return value


def _required_parameters(function: Callable[..., object]) -> list[str]:
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):
        # Builtins without signature metadata: let the call itself decide.
        return []
    return [
        parameter.name
        for parameter in signature.parameters.values()
        if parameter.default is inspect.Parameter.empty
        and parameter.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    ]
