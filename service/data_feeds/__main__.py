"""``python -m data_feeds``: the same command line as ``data-feeds``."""

import sys

from data_feeds.cli import main

if __name__ == "__main__":
    sys.exit(main())
