"""Select the native or the pure-Python backend, once, at import.

`MILLPOND_PURE=1` forces the pure backend. Otherwise the compiled extension is
used when it imports. Only a missing extension falls back to pure: an extension
that exists but fails to load raises, so a broken build is never silently
replaced by the slow path.
"""

from __future__ import annotations

import importlib
import os

# typing is not imported at run time because it costs more than the rest of
# `import millpond`. Type checkers treat TYPE_CHECKING as true, and the
# annotations below are never evaluated.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import ModuleType
    from typing import Final, Literal

__all__ = ["BACKEND", "impl"]

_ENV_VAR: Final = "MILLPOND_PURE"
_NATIVE_NAME: Final = "millpond._native"


def _pure_requested() -> bool:
    value = os.environ.get(_ENV_VAR, "")
    if value in ("", "0"):
        return False
    if value == "1":
        return True
    raise ValueError(f"invalid {_ENV_VAR}={value!r}: expected '1' (pure backend) or '0' or unset")


def _load() -> tuple[Literal["native", "pure"], ModuleType]:
    if _pure_requested():
        from millpond import _pure  # noqa: PLC0415

        return "pure", _pure

    # import_module, not `from millpond import _native`: the from-form turns a
    # missing submodule into a plain ImportError without the module's name.
    try:
        native = importlib.import_module(_NATIVE_NAME)
    except ModuleNotFoundError as error:
        if error.name != _NATIVE_NAME:
            raise
        # logging is imported here, not at the top, because importing it costs
        # more than the rest of `import millpond` together.
        import logging  # noqa: PLC0415

        from millpond import _pure  # noqa: PLC0415

        logging.getLogger("millpond").debug(
            "millpond._native is not installed; using the pure-Python backend"
        )
        return "pure", _pure
    return "native", native


BACKEND, impl = _load()
