"""``python -m xent_cli`` is the same as ``xent``."""

from .cli import main

main()
