"""Training: the resumable training loop, safe checkpoints with model cards, resumable training states."""

from neurodcn.train.checkpoint import (
    CheckpointError,
    load_card,
    load_checkpoint,
    load_training_state,
    save_checkpoint,
    save_training_state,
)
from neurodcn.train.trainer import TrainConfig, TrainingDiverged, evaluate, train

__all__ = [
    "CheckpointError", "save_checkpoint", "load_checkpoint", "load_card", "save_training_state",
    "load_training_state", "TrainConfig", "TrainingDiverged", "train", "evaluate",
]
