"""pytest at the repository root: `make notebooks` runs nbval on chapters/ and book/ from here."""

# --nbval-cache DIR: nbval's run of a notebook also fills the book's execution cache (tools/nbval_cache.py)
pytest_plugins = ["tools.nbval_cache"]
