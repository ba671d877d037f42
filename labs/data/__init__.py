"""Offline-first data for the course.

Every default data set works with no network. Downloads are optional, verified
by SHA-256, cached under :func:`cache_dir`, and never unpickled.
"""

from labs.data.cache import cache_dir, CACHE_ENV
from labs.data.download import download, sha256_of, OfflineError, ChecksumError
from labs.data.digits import load_digits
from labs.data.mnist1d import load_mnist1d
from labs.data.mnist import load_mnist
from labs.data.cifar10 import load_cifar10
from labs.data.corpus import load_text_corpus, train_val_split, CharTokenizer

__all__ = ["cache_dir", "CACHE_ENV", "download", "sha256_of", "OfflineError", "ChecksumError", "load_digits", "load_mnist1d", "load_mnist", "load_cifar10", "load_text_corpus", "train_val_split", "CharTokenizer"]
