"""bmcourse: the building blocks of large models, in small readable PyTorch.

The chapters of the bmcourse book import from here; see ``bmcourse.about()`` for what is in use.
The names learners use most are re-exported: ``from bmcourse import fit, get_device``.
"""
__version__ = "0.1.0"

from .runtime import about, budget, get_device, is_quick, seed_everything
from .sizing import count_parameters
from .training import evaluate, fit, predict

__all__ = ["about", "budget", "get_device", "is_quick", "seed_everything", "fit", "evaluate",
           "predict", "count_parameters", "__version__"]
