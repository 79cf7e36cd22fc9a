"""Solver faithfulness: accuracy and block outputs of a checkpoint under dopri5, rk4 and its training solver.

Command-line front of neurodcn.paper.solver_faithfulness.

    python analyses/solver_faithfulness.py [--checkpoint CKPT] [--data DIR] [--num-images N]
        [--converged-images K] [--out results]
"""

from __future__ import annotations

import sys

try:
    from analyses import common
except ImportError:  # run as a script: analyses/ itself is on sys.path
    import common

from neurodcn.cli import nonnegative_int, positive_int
from neurodcn.paper.solver_faithfulness import run

__all__ = ["run", "main"]


def main(argv=None) -> int:
    p = common.parser("solver_faithfulness", __doc__.splitlines()[0], images=False)
    p.add_argument("--data", type=common.default_data_root, default=common.default_data_root(),
                   help="cifar-10-batches-py folder (default: $NEURODCN_CIFAR10 or ../shared/data/cifar-10-subset)")
    p.add_argument("--num-images", type=positive_int, default=None, help="first N test images (default all)")
    p.add_argument("--converged-images", type=nonnegative_int, default=0, metavar="K",
                   help="also measure each solver's own error, against dopri5 at rtol = atol = 1e-6, on the first K "
                   "of those images (default 0: not measured)")
    return common.main(run, p, argv)


if __name__ == "__main__":
    sys.exit(main())
