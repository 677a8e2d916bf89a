"""``python -m irkit`` runs the command line."""

from irkit.cli import main

main()
