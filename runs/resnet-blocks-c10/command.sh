#!/usr/bin/env bash
# resnet-blocks on CIFAR-10 (JPEG-degraded): dcn-ode-c10's data, width, schedule and epochs (17 epochs, milestones
# 10, 15; no ODE), one thread.
# Build the data first: python ../shared/data/cifar-10-jpeg/make_batches.py data/cifar-10-jpeg
# Run from the repository root; add --resume to continue a stopped run.
exec .venv/bin/neurodcn train --model resnet-blocks --data data/cifar-10-jpeg --data-name "CIFAR-10 (JPEG-degraded)" \
    --out runs/resnet-blocks-c10 --epochs 17 --milestones 10 15 --width 16 --precision bf16 --batch-size 64 \
    --weight-decay 5e-4 --checkpoint-every 100 --threads 1 --seed 0 --test --no-progress "$@"
