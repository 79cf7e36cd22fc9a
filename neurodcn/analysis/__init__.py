"""Analyses of recordings: parametric fits and comparisons with published biology."""
