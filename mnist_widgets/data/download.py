"""Download data files from public mirrors: checksum verified, atomic write."""

from __future__ import annotations

import os
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path

from ..errors import DataError, DownloadError
from .idx import IdxFile, read_bytes
from .sources import KnownFile

CHUNK = 1 << 16
TIMEOUT_S = 30.0


def checksum_match(idx: IdxFile, known: KnownFile) -> str:
    """Which digest matched: "gz" (stored bytes), "raw" (decompressed bytes) or "mismatch".

    The stored bytes are hashed first; the (larger) decompressed bytes only when needed.
    """
    if known.matches(stored_sha256=idx.stored_sha256):
        return "gz" if idx.stored is not idx.raw else "raw"
    if known.matches(raw_sha256=idx.raw_sha256):
        return "raw"
    return "mismatch"


def verify(path: Path, known: KnownFile) -> None:
    """Raise DataError unless the file's stored or decompressed bytes match ``known``."""
    if checksum_match(read_bytes(path), known) != "mismatch":
        return
    raise DataError(
        f"{path}: checksum mismatch (not the published {known.stem}); delete it to fetch it again"
    )


def _fetch(
    url: str, tmp: Path, timeout: float, progress: Callable[[int, int], None] | None
) -> None:
    with urllib.request.urlopen(url, timeout=timeout) as response, open(tmp, "wb") as out:
        total = int(response.headers.get("Content-Length") or 0)
        done = 0
        while chunk := response.read(CHUNK):
            out.write(chunk)
            done += len(chunk)
            if progress:
                progress(done, total)
        out.flush()
        os.fsync(out.fileno())
    if total and done != total:
        raise DataError(f"{url}: connection closed after {done} of {total} bytes")


def download_file(
    known: KnownFile,
    dest_dir: Path,
    mirrors: Sequence[str],
    timeout: float = TIMEOUT_S,
    progress: Callable[[int, int], None] | None = None,
) -> Path:
    """Fetch ``known.gz_name`` from the first mirror that serves good bytes.

    The bytes go to a temporary file in ``dest_dir`` and are renamed into place only
    once the checksum matches, so a half-written or wrong file is never left behind.
    """
    dest_dir.mkdir(parents=True, exist_ok=True)
    dest = dest_dir / known.gz_name
    failures: list[str] = []
    for mirror in mirrors:
        url = mirror.rstrip("/") + "/" + known.gz_name
        fd, tmp_name = tempfile.mkstemp(prefix=f".{known.gz_name}.", suffix=".part", dir=dest_dir)
        os.close(fd)
        tmp = Path(tmp_name)
        try:
            _fetch(url, tmp, timeout, progress)
            verify(tmp, known)
            os.replace(tmp, dest)
            return dest
        except (OSError, urllib.error.URLError, DataError) as exc:
            reason = getattr(exc, "reason", None) or exc
            failures.append(f"{url}: {reason}")
        finally:
            tmp.unlink(missing_ok=True)
    raise DownloadError(
        f"could not download {known.gz_name} ({'; '.join(failures)}); "
        "check the network or put the file in $MNIST_WIDGETS_DATA"
    )
