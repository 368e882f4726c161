"""``python -m occgen`` runs the CLI."""

from occgen.cli import main

main()
