"""Parse and verify IDX files (the format MNIST ships in), gzipped or raw."""

from __future__ import annotations

import gzip
import hashlib
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import DataError

GZIP_MAGIC = b"\x1f\x8b"
# IDX type codes -> numpy dtypes (big-endian as the format stores them).
_IDX_DTYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


try:  # Intel's ISA-L decompresses gzip about twice as fast as zlib (bench/data_load.py)
    from isal import isal_zlib

    _ISAL_ERRORS: tuple[type[BaseException], ...] = (isal_zlib.error,)
except ImportError:  # pragma: no cover - isal is a dependency; zlib still works without it
    isal_zlib = None
    _ISAL_ERRORS = ()


def gunzip(data: bytes) -> bytes:
    """Decompress gzip ``data``, checking its CRC and length; several members are joined."""
    if isal_zlib is None:
        return gzip.decompress(data)
    stream = isal_zlib.decompressobj(31)  # 31: a gzip header and trailer
    raw = stream.decompress(data)
    if not stream.eof:
        raise EOFError("compressed file ended before the end-of-stream marker was reached")
    if stream.unused_data:  # a second member (or trailing bytes): let gzip judge the rest
        raw += gzip.decompress(stream.unused_data)
    return raw


@dataclass(frozen=True)
class IdxFile:
    """The bytes of one IDX file as stored and as decompressed."""

    path: Path
    stored: bytes
    raw: bytes

    @property
    def stored_sha256(self) -> str:
        return hashlib.sha256(self.stored).hexdigest()

    @property
    def raw_sha256(self) -> str:
        return hashlib.sha256(self.raw).hexdigest()


def read_bytes(path: str | Path) -> IdxFile:
    """Read a file and decompress it when it is gzipped."""
    path = Path(path)
    try:
        stored = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror})") from None
    if stored[:2] == GZIP_MAGIC:
        try:
            raw = gunzip(stored)
        except (EOFError, OSError, zlib.error, *_ISAL_ERRORS) as exc:
            raise DataError(
                f"{path}: truncated or corrupt gzip data ({exc}); delete it and fetch it again"
            ) from None
    else:
        raw = stored
    return IdxFile(path, stored, raw)


def parse_idx(raw: bytes, name: str = "<bytes>") -> np.ndarray:
    """Parse decompressed IDX bytes into an array, checking magic and sizes."""
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise DataError(f"{name}: not an IDX file (bad magic number)")
    type_code, ndim = raw[2], raw[3]
    dtype = _IDX_DTYPES.get(type_code)
    if dtype is None or ndim == 0:
        raise DataError(f"{name}: not an IDX file (magic 0x{raw[:4].hex()})")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{name}: truncated IDX header")
    dims = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    expected = int(np.prod(dims)) * dtype.itemsize
    actual = len(raw) - header
    if actual != expected:
        what = "truncated" if actual < expected else "has trailing bytes"
        raise DataError(
            f"{name}: {what}: header says {dims} ({expected} bytes of data), file has {actual}"
        )
    array = np.frombuffer(raw, dtype=dtype, offset=header).reshape(dims)
    return array.astype(dtype.newbyteorder("="), copy=False) if dtype.itemsize > 1 else array


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file (gzipped or not) into a numpy array."""
    idx = read_bytes(path)
    return parse_idx(idx.raw, str(path))
