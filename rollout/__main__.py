"""``python -m rollout`` runs the command line."""

from rollout.cli import main

main()
