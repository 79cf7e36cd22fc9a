"""One script per paper figure or table: checkpoint in, .nc + .png out (see analyses/common.py)."""
