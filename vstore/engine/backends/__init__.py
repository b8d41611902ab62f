"""Storage backends: bytes in, bytes out. Implementations are imported lazily."""

from vstore.engine.backends.base import Backend, check_key

__all__ = ["Backend", "check_key"]
