"""The dashboard's process-wide cache (see m2pt_core/byte_cache.py, where it lives so that the
analysis code can keep its own caches under a byte cap too)."""
from ..byte_cache import DEFAULT_CACHE_BYTES, ServerBusyError, SharedCache, tensor_bytes

__all__ = ["DEFAULT_CACHE_BYTES", "ServerBusyError", "SharedCache", "tensor_bytes"]
