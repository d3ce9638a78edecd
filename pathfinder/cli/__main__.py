"""``python -m pathfinder.cli``: the same as the ``pathfinder`` console script."""

from pathfinder.cli import main

main()
