"""``python -m neurodcn.train ...`` and ``torchrun --nproc_per_node=N -m neurodcn.train ...``: the train command."""

import sys

from neurodcn.cli import main

sys.exit(main(["train", *sys.argv[1:]]))
