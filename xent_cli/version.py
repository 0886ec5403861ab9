"""The package's version: a leaf, so that any module (and ``xent --version``) can name it."""

__version__ = "0.1.0"
