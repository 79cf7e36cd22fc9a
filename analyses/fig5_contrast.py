"""DCN paper Fig. 5: accuracy and solver effort (forward NFE per ODE block and in total) against contrast.

Command-line front of neurodcn.paper.fig5_contrast (the computation, the files it writes and their settings).

    python analyses/fig5_contrast.py [--checkpoint CKPT] [--solver dopri5] [--out results] [--quick]
        [--num-images N] [--contrasts C [C ...]]
"""

from __future__ import annotations

import sys

try:
    from analyses import common
except ImportError:  # run as a script: analyses/ itself is on sys.path
    import common

from neurodcn.paper.fig5_contrast import run

__all__ = ["run", "main"]


def main(argv=None) -> int:
    p = common.parser("fig5_contrast", __doc__.splitlines()[0])
    p.add_argument("--contrasts", type=float, nargs="+", default=None, metavar="C",
                   help="contrast factors c > 0 (default: logspace(-3, 0.7, 30); the table compares the two "
                   "nearest to the paper's 1 and 0.06)")
    common.solver_option(p)
    return common.main(run, p, argv)


if __name__ == "__main__":
    sys.exit(main())
