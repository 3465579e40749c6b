"""python -m gosym.cli: the gosym command."""

from . import main

if __name__ == "__main__":
    main()
