"""``python -m occgen`` runs the CLI."""

from occgen.cli.main import main

main()
