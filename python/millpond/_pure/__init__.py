"""Pure-Python twin of `millpond._native`: same function names, same results.

This package is the reference implementation. The Rust extension mirrors it,
and the parity tests hold the two to identical output.
"""

from millpond._pure.schedule import MAX_US, MIN_US, interval_next

__all__ = ["MAX_US", "MIN_US", "interval_next"]
