"""Unpickling that cannot run code: only numpy arrays and plain Python data come out.

``pickle.load`` calls whatever function a file names, so loading a planted pickle runs its
author's code. Every function or class a pickle uses reaches the loader through
:meth:`pickle.Unpickler.find_class`; :func:`safe_loads` answers it with a short list of
harmless numpy constructors and refuses everything else before anything is called. Lists,
dicts, tuples, numbers, ``str`` and ``bytes`` need no ``find_class`` and still load.

This is what the CIFAR-10 batches need (they were written by Python 2's cPickle, whose numpy
arrays name ``numpy.core.multiarray._reconstruct``, ``numpy.ndarray`` and ``numpy.dtype``).
"""
from __future__ import annotations

import io
import pickle

import numpy as np

__all__ = ["safe_loads", "UnsafePickleError"]

# numpy's array rebuilder, taken from numpy itself: it moved from numpy.core to numpy._core in
# numpy 2, and importing the old name prints a deprecation warning.
_RECONSTRUCT = np.zeros(0).__reduce__()[0]
_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"): _RECONSTRUCT,  # Python 2 and numpy 1 pickles
    ("numpy._core.multiarray", "_reconstruct"): _RECONSTRUCT,  # numpy 2 pickles
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
}


class UnsafePickleError(pickle.UnpicklingError):
    """A pickle asked for something :func:`safe_loads` does not build; nothing was run."""


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise UnsafePickleError(
                f"asks to call {module}.{name}, which is not a numpy array constructor; "
                "it was refused and nothing was executed") from None


def safe_loads(data: bytes, *, encoding: str = "ASCII"):
    """Unpickle ``data``, admitting only numpy arrays and plain Python data.

    Parameters
    ----------
    data : bytes
        A pickle (any protocol).
    encoding : str
        How to decode Python 2 ``str`` objects; ``"bytes"`` keeps them as bytes.

    Returns
    -------
    object
        The unpickled object: ``numpy.ndarray``, ``numpy.dtype``, and lists, tuples, dicts,
        sets, numbers, ``str`` and ``bytes`` made of them.

    Raises
    ------
    UnsafePickleError
        If the pickle names any other function or class (how a malicious pickle runs code).
        The message names it; nothing was called.
    pickle.UnpicklingError, EOFError, ValueError, ...
        If ``data`` is not a valid pickle (as :func:`pickle.loads` does).
    """
    return _RestrictedUnpickler(io.BytesIO(data), encoding=encoding).load()
