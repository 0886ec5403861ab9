"""``python -m xent_cli`` is the same as ``xent``."""

from .launch import main

main()
