"""``python -m xent_cli`` is the same as ``xent``."""

from xent_cli.launch import main

main()
