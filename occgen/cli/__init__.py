"""The occgen command line: one module per command group over the library."""

from occgen.cli.main import app, main

__all__ = ["app", "main"]
