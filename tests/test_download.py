"""The download path users with internet get, against a local HTTP server on 127.0.0.1."""

from __future__ import annotations

import gzip
import http.server
import os
import socket
import threading
from pathlib import Path

import numpy as np
import pytest

from mnist_widgets.data import load_data, sources
from mnist_widgets.data.download import download_file
from mnist_widgets.errors import DownloadError

MNIST = sources.dataset_info("mnist")
LABELS = MNIST.files[sources.TEST_LABELS]


class Handler(http.server.SimpleHTTPRequestHandler):
    """Serves a folder; paths under /short/ announce more bytes than they send."""

    def log_message(self, *args):  # keep test output quiet
        pass

    def do_GET(self):
        if self.path.startswith("/short/"):
            body = (Path(self.directory) / self.path.removeprefix("/short/")).read_bytes()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[: len(body) // 3])
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        super().do_GET()


@pytest.fixture
def server(tmp_path):
    """A local mirror: /good/ has the real files, /wrong/ random bytes, /cut/ half files."""
    root = tmp_path / "www"
    shared = Path(os.environ["MNIST_WIDGETS_DATA"]) / "mnist"
    rng = np.random.default_rng(0)
    for name in ("good", "wrong", "cut"):
        (root / name).mkdir(parents=True)
    for gz in shared.glob("*.gz"):
        data = gz.read_bytes()
        (root / "good" / gz.name).write_bytes(data)
        (root / "wrong" / gz.name).write_bytes(rng.integers(0, 256, len(data), np.uint8).tobytes())
        (root / "cut" / gz.name).write_bytes(data[: len(data) // 2])

    class RootHandler(Handler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(root), **kwargs)

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), RootHandler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_good_file_is_verified_and_renamed_into_place(server, tmp_path):
    dest = tmp_path / "cache"
    path = download_file(LABELS, dest, [f"{server}/good/"])
    assert path == dest / "t10k-labels-idx1-ubyte.gz"
    assert leftovers(dest) == ["t10k-labels-idx1-ubyte.gz"]
    assert np.bincount(np.frombuffer(gzip.decompress(path.read_bytes())[8:], np.uint8))[0] == 980


@pytest.mark.parametrize("where", ["wrong", "cut", "short"])
def test_bad_bytes_are_never_kept(server, tmp_path, where):
    dest = tmp_path / "cache"
    with pytest.raises(DownloadError, match="could not download t10k-labels-idx1-ubyte.gz"):
        download_file(LABELS, dest, [f"{server}/{where}/"])
    assert leftovers(dest) == []


def test_server_down_is_a_clear_error(tmp_path):
    dest = tmp_path / "cache"
    with pytest.raises(DownloadError, match="check the network") as info:
        download_file(LABELS, dest, [f"http://127.0.0.1:{free_port()}/"], timeout=5)
    assert "\n" not in str(info.value)
    assert leftovers(dest) == []


def test_falls_through_to_the_next_mirror(server, tmp_path):
    dest = tmp_path / "cache"
    path = download_file(LABELS, dest, [f"{server}/wrong/", f"{server}/cut/", f"{server}/good/"])
    assert path.is_file() and leftovers(dest) == [path.name]


def test_load_data_downloads_into_the_cache_once(server, tmp_path, monkeypatch, mnist):
    monkeypatch.delenv(sources.ENV_VAR, raising=False)
    monkeypatch.setenv(sources.CACHE_ENV_VAR, str(tmp_path / "cache"))
    monkeypatch.setenv(sources.MIRROR_ENV_VAR, f"{server}/good/")
    monkeypatch.setattr(sources, "SYSTEM_DIRS", {})
    (x_train, y_train), (x_test, y_test) = load_data("mnist")
    np.testing.assert_array_equal(x_test, mnist[1][0])
    np.testing.assert_array_equal(y_train, mnist[0][1])
    cached = tmp_path / "cache" / "mnist"
    assert leftovers(cached) == sorted(f"{stem}.gz" for stem in sources.FILE_STEMS)
    # second call: served from the cache, the (now broken) mirror is never asked
    monkeypatch.setenv(sources.MIRROR_ENV_VAR, f"{server}/wrong/")
    (_, _), (x_test2, _) = load_data("mnist")
    np.testing.assert_array_equal(x_test2, x_test)


def test_failed_download_leaves_no_partial_data_set(server, tmp_path, monkeypatch):
    monkeypatch.delenv(sources.ENV_VAR, raising=False)
    monkeypatch.setenv(sources.CACHE_ENV_VAR, str(tmp_path / "cache"))
    monkeypatch.delenv(sources.MIRROR_ENV_VAR, raising=False)
    monkeypatch.setattr(sources, "SYSTEM_DIRS", {})
    monkeypatch.setattr(sources, "DATASETS", {"mnist": _with_mirrors(MNIST, (f"{server}/cut/",))})
    with pytest.raises(DownloadError):
        load_data("mnist")
    assert not any(p.suffix == ".part" for p in (tmp_path / "cache" / "mnist").iterdir())
    assert leftovers(tmp_path / "cache" / "mnist") == []


def _with_mirrors(info, mirrors):
    import dataclasses

    return dataclasses.replace(info, mirrors=mirrors)
