#!/usr/bin/env bash
# dcn-ode on CIFAR-10 (JPEG-degraded): fixed-step rk4 (4 steps over T = 2) under bf16 autocast, one thread.
# Build the data first: python ../shared/data/cifar-10-jpeg/make_batches.py data/cifar-10-jpeg
# Run from the repository root; add --resume to continue a stopped run.
# The run started as 24 epochs (milestones 10, 17) and was shortened to 17 epochs (milestones 10, 15) during
# epoch 15, to keep within 8 h of training; the lr so far is the same, so it equals a 17-epoch run from the start
# (best.pt's card lists the change under "schedule_changes").
exec .venv/bin/neurodcn train --model dcn-ode --data data/cifar-10-jpeg --data-name "CIFAR-10 (JPEG-degraded)" \
    --out runs/dcn-ode-c10 --epochs 17 --milestones 10 15 --width 16 --solver rk4 --step-size 0.5 --no-adjoint \
    --kinetic 0.01 --field-gain 1 --precision bf16 --batch-size 64 --weight-decay 5e-4 \
    --checkpoint-every 100 --threads 1 --seed 0 --test --no-progress "$@"
