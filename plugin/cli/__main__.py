"""`python -m plugin.cli`: the `vigil` command."""

from plugin.cli import main

main()
