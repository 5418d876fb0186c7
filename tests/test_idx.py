import gzip
import struct

import numpy as np
import pytest

from bmcourse.data import read_idx, write_idx


def idx_bytes(code: int, shape, payload: bytes) -> bytes:
    return bytes([0, 0, code, len(shape)]) + struct.pack(f">{len(shape)}I", *shape) + payload


def test_reads_a_hand_made_file(tmp_path):
    path = tmp_path / "images-idx3-ubyte"
    path.write_bytes(idx_bytes(0x08, (2, 2, 3), bytes(range(12))))
    array = read_idx(path)
    assert array.dtype == np.uint8 and array.shape == (2, 2, 3)
    assert array[1, 0, 2] == 8  # C order: last dimension fastest


def test_reads_big_endian_values_and_gzip_whatever_the_name(tmp_path):
    path = tmp_path / "values.idx"  # gzip-compressed, without a .gz suffix
    path.write_bytes(gzip.compress(idx_bytes(0x0B, (3,), struct.pack(">3h", -2, 1, 300))))
    array = read_idx(path)
    assert array.dtype == np.int16 and array.dtype.isnative
    assert array.tolist() == [-2, 1, 300]


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32,
                                   np.float64])
@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_round_trip(tmp_path, dtype, suffix):
    rng = np.random.default_rng(0)
    array = (rng.normal(size=(5, 4, 3)) * 50).astype(dtype)
    path = write_idx(tmp_path / f"a-idx3{suffix}", array)
    back = read_idx(path)
    assert back.dtype == array.dtype and back.shape == array.shape
    np.testing.assert_array_equal(back, array)


def test_gzip_output_is_reproducible(tmp_path):
    array = np.arange(100, dtype=np.uint8).reshape(10, 10)
    first = write_idx(tmp_path / "one.gz", array).read_bytes()
    second = write_idx(tmp_path / "two.gz", array).read_bytes()
    assert first == second


@pytest.mark.parametrize("content, problem", [
    (b"\x00", "fewer than the 4-byte"),
    (b"\x08\x03\x00\x00" + bytes(20), "bad magic number"),
    (idx_bytes(0x07, (2,), bytes(2)), "unknown data type code 0x07"),
    (bytes([0, 0, 8, 0]), "0 dimensions"),
    (bytes([0, 0, 8, 3, 0, 0, 0, 2]), "declares 3 dimensions"),
    (idx_bytes(0x08, (10, 28, 28), bytes(10 * 28 * 28 - 1)), "truncated"),
    (idx_bytes(0x0C, (4,), bytes(15)), "truncated"),
    (idx_bytes(0x08, (4,), bytes(5)), "unexpected bytes"),
    (gzip.compress(idx_bytes(0x08, (4,), bytes(4)))[:-6], "does not decompress"),
])
def test_damaged_files_raise_clear_errors(tmp_path, content, problem):
    path = tmp_path / "damaged-idx1-ubyte.gz"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=problem) as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_write_rejects_what_idx_cannot_store(tmp_path):
    with pytest.raises(ValueError, match="dtype"):
        write_idx(tmp_path / "b.idx", np.zeros(3, dtype=bool))
    with pytest.raises(ValueError, match="dimensions"):
        write_idx(tmp_path / "s.idx", np.uint8(3))
    assert list(tmp_path.iterdir()) == []


def test_a_header_whose_size_overflows_int64_is_refused(tmp_path):
    # 65536**4 bytes is 2**64: numpy's int64 product wraps to 0, which "matched" an empty file.
    path = tmp_path / "crafted-idx4-ubyte"
    path.write_bytes(idx_bytes(0x08, (65536,) * 4, b""))
    with pytest.raises(ValueError, match="18,446,744,073,709,551,616 bytes of data") as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_a_header_declaring_more_than_the_file_holds_costs_no_memory(tmp_path):
    import tracemalloc

    path = tmp_path / "huge-idx3-ubyte"
    path.write_bytes(idx_bytes(0x08, (1000, 1000, 1000), bytes(100)))  # claims 1 GB, has 100
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match="truncated: shape .* found 100"):
            read_idx(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 5_000_000


def test_max_bytes_is_enforced(tmp_path):
    path = write_idx(tmp_path / "a-idx1-ubyte", np.zeros(100, np.uint8))
    with pytest.raises(ValueError, match="more than max_bytes=99"):
        read_idx(path, max_bytes=99)
    assert read_idx(path, max_bytes=100).shape == (100,)


def test_a_gzip_bomb_is_stopped_after_the_declared_size(tmp_path):
    import tracemalloc

    path = tmp_path / "bomb-idx1-ubyte.gz"
    with gzip.open(path, "wb", compresslevel=9) as out:  # 4 bytes of data, then 64 MB more
        out.write(idx_bytes(0x08, (4,), bytes(4)))
        zeros = bytes(1 << 20)
        for _ in range(64):
            out.write(zeros)
    assert path.stat().st_size < 200_000
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match="unexpected bytes after the data of shape"):
            read_idx(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8_000_000  # the old reader decompressed all 64 MB first


def test_a_damaged_gzip_trailer_is_still_detected(tmp_path):
    path = tmp_path / "crc-idx1-ubyte.gz"
    data = bytearray(gzip.compress(idx_bytes(0x08, (4,), bytes([1, 2, 3, 4]))))
    data[-8] ^= 0xFF  # the CRC-32 of the decompressed bytes
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="does not decompress"):
        read_idx(path)
