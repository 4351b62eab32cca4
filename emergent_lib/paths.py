"""Where the library keeps what it computes: one cache root, overridable by `EMERGENT_CACHE`;
atomic writes into it; content fingerprints of the files its results depend on."""
from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


def cache_root() -> Path:
    """The cache directory (toy checkpoints, converted models, sweep cells)."""
    return Path(os.environ.get("EMERGENT_CACHE", Path.home() / ".cache" / "emergent_lib")).expanduser()


@contextmanager
def atomic_dir(final: Path) -> Iterator[Path]:
    """Yield a temporary directory that replaces `final` only if the block finishes.

    An interrupted write leaves no half-finished directory that looks complete.
    """
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=final.parent))
    try:
        yield tmp
        if final.exists():
            shutil.rmtree(final)
        tmp.rename(final)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def atomic_write_text(final: Path, text: str) -> None:
    """Write `text` to `final` so that readers see the old file or the new one, never half.

    Each writer has its own temporary name in the same directory, so two processes writing
    the same file at once cannot trip over each other's temporary file.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, final)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


_DIGESTS: dict[tuple[str, int, int], str] = {}  # (path, size, mtime_ns) -> sha256 of the contents


def file_digest(path: Path) -> str:
    """The sha256 of a file's contents, computed once per (path, size, modification time):
    results keyed by it change when the file does, and a large file is not re-read per call."""
    path = Path(path).resolve()
    stat = path.stat()
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    if key not in _DIGESTS:
        sha = hashlib.sha256()
        with path.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                sha.update(block)
        _DIGESTS[key] = sha.hexdigest()
    return _DIGESTS[key]
