"""Figures of neurodcn datasets, one module per experiment, shared styling in :mod:`.style`.

* :mod:`.sigma`: learned sigma against depth (DCN paper Fig. 3a), trained vs initial sigma with the map stride apart,
  sigma_ji histograms (Fig. 3b), SRF kernels.
* :mod:`.completion`: accuracy against mask size (Fig. 3c), D(t) in the ODE blocks (Fig. 4).
* :mod:`.contrast`: accuracy and NFE against contrast (Fig. 5).
* :mod:`.physiology`: in-silico V1 physiology and its comparison with published data.
* :mod:`.similarity`: model-brain similarity (RSA, predictivity) over time after onset, per block and region.
* :mod:`.ensembles`: accuracy of test-time ensembles (each member alone, the first k together).

Every function takes the dataset of one experiment, draws on a new Figure (or the ``ax``/``axes`` given) and
saves nothing: :func:`save_figure` writes a figure atomically.
"""

from neurodcn.analysis.plots.completion import plot_accuracy_vs_mask, plot_completion_dynamics
from neurodcn.analysis.plots.contrast import plot_contrast_sweep
from neurodcn.analysis.plots.ensembles import plot_ensemble_accuracy
from neurodcn.analysis.plots.physiology import (
    plot_property_vs_biology,
    plot_rf_size_vs_depth,
    plot_score_vs_field_size,
    plot_size_tuning_contrast,
    plot_unit_tuning,
)
from neurodcn.analysis.plots.sigma import (
    plot_learned_scales,
    plot_sigma_distributions,
    plot_sigma_vs_depth,
    plot_srf_filters,
)
from neurodcn.analysis.plots.similarity import (
    plot_block_region_matrix,
    plot_predictivity_distributions,
    plot_similarity_over_time,
)
from neurodcn.analysis.plots.style import bootstrap_ci, save_figure

__all__ = [
    "plot_ensemble_accuracy",
    "plot_sigma_vs_depth",
    "plot_learned_scales",
    "plot_sigma_distributions",
    "plot_srf_filters",
    "plot_accuracy_vs_mask",
    "plot_completion_dynamics",
    "plot_contrast_sweep",
    "plot_property_vs_biology",
    "plot_rf_size_vs_depth",
    "plot_score_vs_field_size",
    "plot_size_tuning_contrast",
    "plot_unit_tuning",
    "plot_similarity_over_time",
    "plot_block_region_matrix",
    "plot_predictivity_distributions",
    "bootstrap_ci",
    "save_figure",
]
