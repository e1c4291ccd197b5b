"""``python -m xharm`` runs the command-line interface."""

from .cli import main

if __name__ == "__main__":  # guard: dask worker processes re-import the main module
    raise SystemExit(main())
