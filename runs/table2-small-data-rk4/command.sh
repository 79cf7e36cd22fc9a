#!/usr/bin/env bash
# DCN paper Table 2 (small-data regime) on a faithful solver: dcn-ode, odenet, resnet-blocks at 16, 64 and 256
# images per class of the CIFAR-10 subset, width 16, 8 epochs, rk4 step 0.5, seeds 0-2 (issue "Science with
# controls", item 5). Each (model, images per class, seed) run resumes from its folder under
# table2_small_data_runs/; finished runs are reused. Every ODE model is also tested under dopri5 (rtol = atol =
# 1e-3, each image its own steps). Run from the repository root.
exec .venv/bin/python analyses/table2_small_data.py --quick --width 16 --epochs 8 --per-class 16 64 256 \
    --seeds 0 1 2 --solver rk4:0.5 --eval-solver dopri5 --data ../shared/data/cifar-10-subset --no-progress \
    --out runs/table2-small-data-rk4 "$@"
