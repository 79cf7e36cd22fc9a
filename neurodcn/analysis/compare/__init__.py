"""Model-brain comparison (data side): RSA over model time, ridge predictivity, noise ceilings of single trials
and noise-corrected predictivity, the time mapping, and paired comparisons of models (e.g. with baselines).

Works on arrays and datasets only; neurodcn.cortex.compare runs a model and calls these.
"""

from neurodcn.analysis.compare.brain import BrainRDMs, brain_rdms, brain_responses
from neurodcn.analysis.compare.ceiling import noise_corrected_predictivity, split_half_reliability
from neurodcn.analysis.compare.paired import paired_predictivity, paired_rsa
from neurodcn.analysis.compare.predictivity import predictivity_over_time, ridge_predictivity
from neurodcn.analysis.compare.rdm import calc_rdms, compare_rdms, noise_ceiling
from neurodcn.analysis.compare.rsa import rsa_over_time
from neurodcn.analysis.compare.timemap import fit_time_mapping

__all__ = [
    "BrainRDMs", "brain_rdms", "brain_responses",
    "calc_rdms", "compare_rdms", "noise_ceiling",
    "rsa_over_time", "ridge_predictivity", "predictivity_over_time", "fit_time_mapping",
    "split_half_reliability", "noise_corrected_predictivity", "paired_rsa", "paired_predictivity",
]
