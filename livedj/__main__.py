"""``python -m livedj`` is the ``livedj`` command."""
import sys

from livedj.cli import main

sys.exit(main())
