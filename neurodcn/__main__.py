"""``python -m neurodcn ...``: the neurodcn command line."""

import sys

from neurodcn.cli import main

sys.exit(main())
