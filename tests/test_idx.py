"""The IDX parser and file reader: good files and every kind of bad one."""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest

from mnist_widgets.data.idx import parse_idx, read_bytes, read_idx
from mnist_widgets.errors import DataError


def idx_bytes(array: np.ndarray) -> bytes:
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(
        f">{array.ndim}I", *array.shape
    )
    return header + array.astype(np.uint8).tobytes()


def test_parses_images_and_labels():
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    labels = np.array([7, 1, 9], dtype=np.uint8)
    np.testing.assert_array_equal(parse_idx(idx_bytes(images)), images)
    np.testing.assert_array_equal(parse_idx(idx_bytes(labels)), labels)


def test_parses_big_endian_int32():
    values = np.array([1, -2, 70000], dtype=">i4")
    raw = struct.pack(">BBBBI", 0, 0, 0x0C, 1, 3) + values.tobytes()
    out = parse_idx(raw)
    assert out.tolist() == [1, -2, 70000]
    assert out.dtype.byteorder in ("=", "<", "|")


def test_reads_gzipped_and_raw_files_alike(tmp_path):
    images = np.random.default_rng(0).integers(0, 256, (5, 28, 28), dtype=np.uint8)
    (tmp_path / "a").write_bytes(idx_bytes(images))
    (tmp_path / "a.gz").write_bytes(gzip.compress(idx_bytes(images)))
    np.testing.assert_array_equal(read_idx(tmp_path / "a"), read_idx(tmp_path / "a.gz"))


@pytest.mark.parametrize(
    "raw, words",
    [
        (b"\x01\x00\x08\x01\x00\x00\x00\x01\x05", "magic"),
        (b"\x00\x00\x42\x01\x00\x00\x00\x01\x05", "magic"),
        (b"\x00\x00\x08\x03\x00\x00", "truncated IDX header"),
        (b"\x00\x00\x08\x01\x00\x00\x00\x04\x05\x06", "truncated"),
        (b"\x00\x00\x08\x01\x00\x00\x00\x01\x05\x06", "trailing bytes"),
        (b"", "magic"),
    ],
)
def test_bad_idx_bytes_give_clear_errors(raw, words):
    with pytest.raises(DataError, match=words):
        parse_idx(raw, "file.idx")


def test_missing_file_names_the_file(tmp_path):
    with pytest.raises(DataError, match="nope.gz: file not found"):
        read_bytes(tmp_path / "nope.gz")


def test_truncated_gzip_is_reported_not_crashed(tmp_path):
    data = gzip.compress(idx_bytes(np.zeros((100, 28, 28), np.uint8)) + b"x" * 5000)
    (tmp_path / "cut.gz").write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match="cut.gz: truncated or corrupt gzip"):
        read_bytes(tmp_path / "cut.gz")


def test_gunzip_checks_the_crc_and_joins_members():
    from mnist_widgets.data.idx import gunzip

    body = idx_bytes(np.arange(784 * 3, dtype=np.uint32).astype(np.uint8).reshape(3, 28, 28))
    packed = bytearray(gzip.compress(body))
    assert gunzip(bytes(packed)) == body
    assert gunzip(bytes(packed) + gzip.compress(b"tail")) == body + b"tail"
    packed[-8] ^= 0xFF  # the CRC-32 of the trailer no longer matches the data
    with pytest.raises(Exception, match="(?i)crc|check"):
        gunzip(bytes(packed))


def test_corrupt_crc_is_a_data_error(tmp_path):
    packed = bytearray(gzip.compress(idx_bytes(np.zeros((4, 28, 28), np.uint8))))
    packed[-8] ^= 0xFF
    (tmp_path / "crc.gz").write_bytes(bytes(packed))
    with pytest.raises(DataError, match="crc.gz: truncated or corrupt gzip"):
        read_bytes(tmp_path / "crc.gz")
