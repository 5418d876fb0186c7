"""Training: the one supervised loop, its checkpoints, the one GAN step, and the recipes.

* :mod:`~bmcourse.training.loop` — :func:`fit`, :func:`evaluate`, :func:`predict`, :func:`train_step`;
* :mod:`~bmcourse.training.checkpoint` — atomic, weights-only checkpoints with every RNG state;
* :mod:`~bmcourse.training.gan` — :func:`gan_step` and :func:`train_gan`, for every GAN;
* :mod:`~bmcourse.training.muon` — :class:`MuonAdamW`, Muon for hidden matrices with AdamW for
  the rest, as one optimizer;
* :mod:`~bmcourse.training.recipes` — the commands behind the shipped checkpoints (imported on
  demand: ``from bmcourse.training.recipes import train_fast_cnn``).
"""
from ..sizing import count_parameters
from .checkpoint import load_checkpoint, save_checkpoint
from .gan import gan_step, train_gan
from .loop import History, evaluate, fit, predict, train_step
from .muon import MuonAdamW, muon_param_groups

__all__ = ["fit", "evaluate", "predict", "train_step", "History", "count_parameters",
           "save_checkpoint", "load_checkpoint", "gan_step", "train_gan", "MuonAdamW",
           "muon_param_groups"]
