"""The prediction log's segments on local disk, and the shipper that moves them to the store.

Layout of ``serve.prediction_log`` (a folder; the pod's ``emptyDir``):

- ``open/``: the segment each server process is writing (one per process);
- ``closed/``: segments the service closed (by size, age or at midnight UTC; on shutdown),
  renamed there atomically, so a file in ``closed/`` never changes again.

A segment's name carries its first line's time and the model version:
``20261129T183000123456Z_<version>_<host>-<pid>-<seq>.jsonl``. :func:`object_key` puts it
in the store under ``date=YYYY-MM-DD/model=<version>/`` (gzip), the partitions the monitor
prunes on.

:class:`Shipper` (``python -m mlops.serving.logship``: the pod's sidecar container) uploads
each closed segment, checks the object (size and MD5), and only then deletes the local copy.
The object's key is a function of the segment's name, so a retry after a crash overwrites
the same object: every line reaches the store exactly once. On SIGTERM it ships what is
closed, waits up to ``serve.log_drain_seconds`` for the service to close its last segments,
ships them and exits.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import os
import re
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

OPEN, CLOSED = "open", "closed"
STORE_VARIABLE = "MLOPS_LOG_STORE"  # overrides serve.log_store
LOG_VARIABLE = "MLOPS_PREDICTION_LOG"  # overrides serve.prediction_log
_NAME = re.compile(
    r"^(?P<y>\d{4})(?P<m>\d{2})(?P<d>\d{2})T\d{12}Z_(?P<version>[A-Za-z0-9._-]+)_[^/]+\.jsonl$"
)
_log = logging.getLogger("mlops.logship")


def segment_name(stamp: str, version: str, host: str, pid: int, seq: int) -> str:
    """The file name of a segment whose first line was written at ``stamp`` (ISO, UTC)."""
    compact = re.sub(r"[^0-9]", "", stamp[:26]).ljust(20, "0")  # YYYYMMDDHHMMSSffffff
    return f"{compact[:8]}T{compact[8:20]}Z_{version}_{host}-{pid}-{seq:06d}.jsonl"


def object_key(name: str) -> str:
    """Where segment ``name`` goes in the store: ``date=YYYY-MM-DD/model=<version>/<name>.gz``."""
    found = _NAME.match(name)
    if found is None:
        raise ValueError(f"{name!r} is not a prediction log segment name (see segment_name)")
    date = f"{found['y']}-{found['m']}-{found['d']}"
    return f"date={date}/model={found['version']}/{name}.gz"


def closed_segments(folder: Path) -> list[Path]:
    """The closed segments waiting in ``folder``, oldest first."""
    closed = folder / CLOSED
    return sorted(closed.glob("*.jsonl")) if closed.is_dir() else []


def backlog_bytes(folder: Path) -> int:
    """Bytes of closed segments not shipped yet."""
    total = 0
    for path in closed_segments(folder):
        try:
            total += path.stat().st_size
        except FileNotFoundError:  # shipped meanwhile
            continue
    return total


def is_local(fs: Any) -> bool:
    """Whether an fsspec filesystem is the local disk."""
    protocols = fs.protocol if isinstance(fs.protocol, tuple | list) else (fs.protocol,)
    return "file" in protocols


def log_path(configured: Path) -> Path:
    """The folder the service logs to: $MLOPS_PREDICTION_LOG, else serve.prediction_log."""
    return Path(os.environ.get(LOG_VARIABLE) or configured)


def store_url(configured: str | None) -> str | None:
    """Where segments go: $MLOPS_LOG_STORE if set, else serve.log_store (None: nowhere)."""
    return os.environ.get(STORE_VARIABLE) or configured


class Shipper:
    """Uploads closed segments of ``folder`` to ``store``; deletes each after a verified upload."""

    def __init__(self, folder: Path, store: str, *, max_local_bytes: int) -> None:
        import fsspec

        self.folder = Path(folder)
        self.store = store.rstrip("/")
        self.fs, self.root = fsspec.core.url_to_fs(self.store)
        self.max_local_bytes = max_local_bytes
        self.shipped = 0

    def ship(self, path: Path) -> str:
        """Upload one segment (gzip), verify the object, delete the local file; the key."""
        data = gzip.compress(path.read_bytes(), mtime=0)  # same bytes on a retry
        key = f"{self.root}/{object_key(path.name)}"
        if is_local(self.fs):  # object stores have no folders (and makedirs makes buckets)
            self.fs.makedirs(key.rsplit("/", 1)[0], exist_ok=True)
        self.fs.pipe_file(key, data)
        self._verify(key, data)
        path.unlink()
        self.shipped += 1
        return key

    def _verify(self, key: str, data: bytes) -> None:
        info = self.fs.info(key)
        size = info.get("size")
        etag = str(info.get("ETag") or info.get("etag") or "").strip('"')
        md5 = hashlib.md5(data, usedforsecurity=False).hexdigest()
        if size != len(data) or (re.fullmatch(r"[0-9a-f]{32}", etag) and etag != md5):
            raise OSError(
                f"{self.store}/{key}: the stored object ({size} bytes, ETag {etag or 'n/a'}) is "
                f"not the segment uploaded ({len(data)} bytes, MD5 {md5}); the local copy is kept"
            )
        if not etag and self.fs.cat_file(key) != data:  # no checksum offered: read it back
            raise OSError(f"{key}: the stored object differs from the segment; local copy kept")

    def ship_closed(self) -> int:
        """Ship every closed segment; an upload that fails is retried on the next pass."""
        done = 0
        for path in closed_segments(self.folder):
            try:
                key = self.ship(path)
            except FileNotFoundError:
                continue
            except Exception as exc:  # any store error: the file is kept and retried
                _log.error("cannot ship %s to %s: %s (kept, retried)", path, self.store, exc)
                break
            _log.info("shipped %s -> %s", path.name, key)
            done += 1
        waiting = backlog_bytes(self.folder)
        if waiting > self.max_local_bytes:
            _log.error(
                "%d bytes of closed prediction log segments wait in %s (serve."
                "log_max_local_bytes: %d): the store %s is behind or unreachable; nothing is "
                "dropped, but the pod's disk fills",
                waiting, self.folder / CLOSED, self.max_local_bytes, self.store,
            )  # fmt: skip
        return done

    def drain(self, seconds: float, interval: float, clock: Callable[[], float] = time.monotonic):
        """After SIGTERM: ship until the service closed its segments, or ``seconds`` passed."""
        deadline = clock() + seconds
        while True:
            self.ship_closed()
            still_open = list((self.folder / OPEN).glob("*.jsonl"))
            if not still_open and not closed_segments(self.folder):
                return
            if clock() >= deadline:
                break
            time.sleep(min(interval, 0.2))
        for path in still_open:  # the service is gone (or killed): its segments are final
            _log.warning("shipping %s, which the service left open", path.name)
            if path.exists() and path.stat().st_size:
                path.rename(self.folder / CLOSED / path.name)
        self.ship_closed()


def run_shipper(folder: Path, store: str | None, settings: Any, stop: threading.Event) -> int:
    """The sidecar's loop: ship every ``log_ship_seconds`` until ``stop``, then drain."""
    if store is None:
        _log.warning(
            "no log store set (serve.log_store or %s): prediction log segments stay in %s, "
            "unshipped; set it to an fsspec URL such as s3://bucket/prediction-logs",
            STORE_VARIABLE, folder,
        )  # fmt: skip
        stop.wait()
        return 0
    (folder / CLOSED).mkdir(parents=True, exist_ok=True)
    shipper = Shipper(folder, store, max_local_bytes=settings.log_max_local_bytes)
    _log.info("shipping closed segments of %s to %s", folder, store)
    while not stop.wait(settings.log_ship_seconds):
        shipper.ship_closed()
    _log.info("SIGTERM: draining (at most %.0f s)", settings.log_drain_seconds)
    shipper.drain(settings.log_drain_seconds, settings.log_ship_seconds)
    _log.info("shipped %d segments; %d left", shipper.shipped, len(closed_segments(folder)))
    return 0 if not closed_segments(folder) else 1


def main() -> int:  # pragma: no cover - exercised by tests/service as a subprocess
    """``python -m mlops.serving.logship``: the shipper sidecar (reads MLOPS_PARAMS)."""
    from mlops.core.config import load_params

    style = "%(asctime)s logship %(levelname)s %(message)s"
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format=style)
    serve = load_params(Path(os.environ.get("MLOPS_PARAMS", "params.yaml"))).serve
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    return run_shipper(log_path(serve.prediction_log), store_url(serve.log_store), serve, stop)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
