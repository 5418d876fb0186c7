"""bmcourse: the building blocks of large models, in small readable PyTorch.

The chapters of the bmcourse book import from here; see ``bmcourse.about()`` for what is in use.
"""
__version__ = "0.1.0"

from .runtime import about, budget, get_device, is_quick, seed_everything

__all__ = ["about", "budget", "get_device", "is_quick", "seed_everything", "__version__"]
