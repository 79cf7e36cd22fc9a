"""The DCN paper's figures and tables as package functions, run on the bundled models and stimuli.

Each module is one figure or table: ``run(checkpoint=None, out="results", quick=False, ...) -> Result``
writes netCDF datasets, figures and tables into folder ``out`` and records them in the folder's results index
(:mod:`neurodcn.paper.results`). ``neurodcn demo`` runs :data:`DEMO_ORDER`; the scripts of the repository's
``analyses/`` folder are command-line fronts over the same functions.
"""

DEMO_ORDER = ("table1_parameters", "fig3_sigma", "fig4_pattern_completion", "fig5_contrast")
"""The paper modules the demo runs, in order."""

__all__ = ["DEMO_ORDER"]
