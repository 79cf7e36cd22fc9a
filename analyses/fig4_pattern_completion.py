"""DCN paper Figs. 3c and 4: pattern completion, accuracy against mask size and D(t) inside the ODE blocks.

Command-line front of neurodcn.paper.fig4_pattern_completion (the computation, the files it writes and their settings).

    python analyses/fig4_pattern_completion.py [--checkpoint CKPT] [--solver dopri5] [--out results] [--quick]
        [--num-images N] [--baselines [CKPT ...]]
"""

from __future__ import annotations

import sys

try:
    from analyses import common
except ImportError:  # run as a script: analyses/ itself is on sys.path
    import common

from neurodcn.paper.fig4_pattern_completion import BASELINES, run

__all__ = ["run", "main"]


def main(argv=None) -> int:
    p = common.parser("fig4_pattern_completion", __doc__.splitlines()[0])
    p.add_argument("--baselines", nargs="*", default=list(BASELINES), metavar="CKPT",
                   help=f"bundled names or checkpoint paths beside the model in Fig. 3c (default: "
                   f"{' '.join(BASELINES)}; none: no baselines)")
    common.solver_option(p)
    return common.main(run, p, argv)


if __name__ == "__main__":
    sys.exit(main())
