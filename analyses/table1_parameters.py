"""DCN paper Table 1 (and the Table 5 variants): trainable parameters of every model of the zoo.

Command-line front of neurodcn.paper.table1_parameters (the computation, the files it writes and their settings).

    python analyses/table1_parameters.py [--checkpoint CKPT] [--out results]
"""

from __future__ import annotations

import sys

try:
    from analyses import common
except ImportError:  # run as a script: analyses/ itself is on sys.path
    import common

from neurodcn.paper.table1_parameters import run

__all__ = ["run", "main"]


def main(argv=None) -> int:
    return common.main(run, common.parser("table1_parameters", __doc__.splitlines()[0], images=False), argv)


if __name__ == "__main__":
    sys.exit(main())
