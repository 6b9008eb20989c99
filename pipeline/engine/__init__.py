"""Training loop pieces shared by the plain-PyTorch tracks (SCL, DCLNet)."""

from pipeline.engine.epoch_loop import EpochLoop, EpochTask

__all__ = ["EpochLoop", "EpochTask"]
