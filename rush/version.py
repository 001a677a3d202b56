"""Rush's version, in one place: the package, `rush --version` and pyproject.toml read it."""

__version__ = "0.1.0"
