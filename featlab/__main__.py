"""``python -m featlab``: the same command line as ``featlab``."""

from featlab.cli import main

main()
