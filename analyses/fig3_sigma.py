"""DCN paper Fig. 3a/3b: the learned SRF scale sigma against depth, trained vs initial, and sigma_ji.

Command-line front of neurodcn.paper.fig3_sigma (the computation, the files it writes and their settings).

    python analyses/fig3_sigma.py [--checkpoint CKPT] [--out results] [--quick]
"""

from __future__ import annotations

import sys

try:
    from analyses import common
except ImportError:  # run as a script: analyses/ itself is on sys.path
    import common

from neurodcn.paper.fig3_sigma import run

__all__ = ["run", "main"]


def main(argv=None) -> int:
    return common.main(run, common.parser("fig3_sigma", __doc__.splitlines()[0], images=False), argv)


if __name__ == "__main__":
    sys.exit(main())
