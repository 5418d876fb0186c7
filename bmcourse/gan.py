"""Old home of the GAN step, kept so that notebooks written for bmcourse 0.1 still run.

It now lives in :mod:`bmcourse.training.gan`.
"""
from .training.gan import gan_step, train_gan

__all__ = ["gan_step", "train_gan"]
