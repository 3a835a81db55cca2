"""Allow ``python -m restore``."""

from restore.cli.entry import main

if __name__ == "__main__":
    main()
