"""Offline-first data for the course.

Every default data set works with no network. Downloads are optional, verified
by SHA-256, cached under :func:`cache_dir`, and never unpickled.
"""

from labs.data.cache import cache_dir, CACHE_ENV
from labs.data.download import download, sha256_of, OfflineError, ChecksumError
from labs.data.digits import load_digits

__all__ = ["cache_dir", "CACHE_ENV", "download", "sha256_of", "OfflineError", "ChecksumError", "load_digits"]
