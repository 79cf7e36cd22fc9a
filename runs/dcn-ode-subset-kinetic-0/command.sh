#!/usr/bin/env bash
# Pattern completion's control (issue "Science with controls", item 6): dcn-ode on the CIFAR-10 subset with the
# full-data recipe (rk4, step 0.5, bf16, width 16), kinetic weight 0, 12 epochs; its twin differs only in the
# kinetic weight. Run from the repository root; add --resume to continue a stopped run.
exec .venv/bin/neurodcn train --model dcn-ode --data ../shared/data/cifar-10-subset --out runs/dcn-ode-subset-kinetic-0 --epochs 12 \
    --width 16 --solver rk4 --step-size 0.5 --no-adjoint --kinetic 0 --field-gain 1 --precision bf16 \
    --batch-size 64 --weight-decay 5e-4 --checkpoint-every 20 --threads 1 --seed 0 --test --no-progress "$@"
