"""Training recipes: the exact commands behind the course's trained models.

A recipe wires a model from :mod:`bmcourse.models` to the one training loop
(:func:`bmcourse.training.fit`) with the settings that work, one module per chapter. The
checkpoints shipped in the package come from the recipes registered in :data:`RECIPES`, run as
``python -m bmcourse train NAME``, which prints the SHA-256 that the loading code then checks.
"""
from .cnn import train_fast_cnn, train_mnist_classifier
from . import gpt  # noqa: F401  (registers its recipe)
from .registry import RECIPES, recipe
from . import gan, vae  # noqa: F401  (register their recipes)
from . import scaling  # noqa: F401

__all__ = ["RECIPES", "recipe", "train_fast_cnn", "train_mnist_classifier"]
