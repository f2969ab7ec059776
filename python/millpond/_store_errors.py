"""`StoreCorruptError`, raised by both FileStore backends for a damaged store file.

The native backend raises this same Python class, so callers catch one type
whichever backend is selected, and the message is always built here.
"""

from __future__ import annotations

__all__ = ["StoreCorruptError"]


class StoreCorruptError(ValueError):
    """A store file that cannot be loaded: invalid UTF-8 or JSON, a wrong shape or version.

    `path` is the damaged file and `line` the 1-based line of the damage, or
    None when the problem concerns the file as a whole. `reason` is the message
    without the location and advice, and `store_path` is the store's snapshot
    path, the one to pass to `FileStore.repair`. Nothing on disk was changed
    when this is raised.
    """

    path: str
    line: int | None
    reason: str
    store_path: str

    def __init__(self, path: str, line: int | None, reason: str, store_path: str) -> None:
        location = path if line is None else f"{path} line {line}"
        super().__init__(
            f"{location}: {reason}. FileStore.repair({store_path!r}) moves the damaged file"
            " aside and keeps every record that parses"
        )
        self.path = path
        self.line = line
        self.reason = reason
        self.store_path = store_path

    def __reduce__(self) -> tuple[type[StoreCorruptError], tuple[str, int | None, str, str]]:
        # The default reduction passes only the message back to __init__.
        return (type(self), (self.path, self.line, self.reason, self.store_path))
