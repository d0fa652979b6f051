"""`python -m ocac`."""

from ocac.cli import main

main()
