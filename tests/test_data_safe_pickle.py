import os
import pickle

import numpy as np
import pytest

from bmcourse.data.safe_pickle import UnsafePickleError, safe_loads


class WritesMarker:
    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return exec, (f"open({self.path!r}, 'w').write('code ran')",)


class CallsSystem:
    def __reduce__(self):
        return os.system, ("echo this must never run",)


def test_the_planted_pickle_really_runs_code_with_plain_pickle(tmp_path):
    # Proves the payload used below is live, so "no marker" really means "nothing ran".
    marker = tmp_path / "ran"
    pickle.loads(pickle.dumps(WritesMarker(marker)))
    assert marker.read_text() == "code ran"


@pytest.mark.parametrize("protocol", range(0, pickle.HIGHEST_PROTOCOL + 1))
def test_planted_pickles_are_refused_before_anything_runs(tmp_path, protocol):
    marker = tmp_path / "ran"
    for payload, name in [(WritesMarker(marker), "exec"), (CallsSystem(), "system")]:
        data = pickle.dumps({"data": [payload]}, protocol=protocol)
        with pytest.raises(UnsafePickleError, match=f"{name}.*nothing was executed"):
            safe_loads(data)
    assert not marker.exists()


# Protocol 2 written by Python 3 stores bytes through _codecs.encode, and protocol 5 stores
# arrays through numpy._core.numeric._frombuffer: both refused, as the CIFAR-10 files (Python 2
# pickles, covered by tests/test_cifar10.py) need neither.
@pytest.mark.parametrize("protocol", [3, 4])
def test_numpy_arrays_and_plain_data_load(protocol):
    obj = {"data": np.arange(12, dtype=np.uint8).reshape(3, 4), "labels": [1, 2, 3],
           "names": ("a", b"b"), "scale": 0.5, "dtype": np.dtype(">i2")}
    back = safe_loads(pickle.dumps(obj, protocol=protocol))
    np.testing.assert_array_equal(back["data"], obj["data"])
    assert back["data"].dtype == np.uint8
    assert back["labels"] == [1, 2, 3] and back["names"] == ("a", b"b") and back["scale"] == 0.5
    assert back["dtype"] == np.dtype(">i2")


def test_numpy_1_module_name_is_accepted():
    data = pickle.dumps(np.arange(3, dtype=np.uint8), protocol=3)
    old = data.replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
    if old == data:  # numpy 1 already writes the old name
        assert b"numpy.core.multiarray" in data
    np.testing.assert_array_equal(safe_loads(old), [0, 1, 2])


def test_other_numpy_functions_are_refused():
    # numpy.load would unpickle again; anything but the three constructors is refused.
    data = pickle.dumps(np.float64(1.5))  # numpy scalars use numpy._core.multiarray.scalar
    with pytest.raises(UnsafePickleError, match="scalar"):
        safe_loads(data)
