"""Old home of the training loop, kept so that notebooks written for bmcourse 0.1 still run.

The loop now lives in :mod:`bmcourse.training`; import from there (or from ``bmcourse``).
"""
from .training import (History, count_parameters, evaluate, fit, load_checkpoint, predict,
                       save_checkpoint)

__all__ = ["fit", "evaluate", "predict", "count_parameters", "History", "save_checkpoint",
           "load_checkpoint"]
