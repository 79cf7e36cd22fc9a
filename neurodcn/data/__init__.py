"""Data: the local CIFAR-10 loader (subsets, validation splits, seeded batches) and training augmentation."""

from neurodcn.data.augment import crop_flip, random_crop_flip
from neurodcn.data.cifar10 import (
    CIFAR10,
    CIFAR10Error,
    batches,
    epoch_generator,
    load_cifar10,
    num_batches,
    per_class_subset,
    train_val_split,
)

__all__ = [
    "CIFAR10", "CIFAR10Error", "load_cifar10", "per_class_subset", "train_val_split", "epoch_generator",
    "num_batches", "batches", "crop_flip", "random_crop_flip",
]
