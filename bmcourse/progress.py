"""The progress bar used by training and downloads.

In Jupyter, tqdm draws a widget bar when ipywidgets is installed (Colab has it). Without
ipywidgets, ``tqdm.auto`` would only warn and fall back to a text bar, so the text bar is used
directly; ``WIDGETS`` says which one is in use.
"""
try:
    import ipywidgets  # noqa: F401
    from tqdm.auto import tqdm
    WIDGETS = True
except ImportError:
    from tqdm import tqdm
    WIDGETS = False

__all__ = ["tqdm", "WIDGETS"]
