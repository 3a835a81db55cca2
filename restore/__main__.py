"""Allow ``python -m restore``."""

from restore.cli.app import main

if __name__ == "__main__":
    main()
