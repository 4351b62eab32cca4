"""Where the library keeps what it computes: one cache root, overridable by `EMERGENT_CACHE`;
atomic writes into it; content fingerprints of the files its results depend on."""
from __future__ import annotations

import hashlib
import os
import re
import shutil
import socket
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


def cache_root() -> Path:
    """The cache directory (toy checkpoints, converted models, sweep cells)."""
    return Path(os.environ.get("EMERGENT_CACHE", Path.home() / ".cache" / "emergent_lib")).expanduser()


# atomic_dir's temporary directories: .<final name>.partial-<host>-<pid>-<random>
_PARTIAL = re.compile(r"^\..+\.partial-(?P<host>[\w-]*)-(?P<pid>\d+)-\w+$")
ORPHAN_AGE_S = 24 * 3600  # a writer on another host (a shared cache) counts as gone after this


def _host() -> str:
    return re.sub(r"[^\w-]", "_", socket.gethostname())


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def remove_orphans(parent: Path) -> list[Path]:
    """Remove the temporary directories that killed writers left in `parent` (their process
    is gone, or, for another host's, they are a day old): a conversion killed halfway
    leaves hundreds of megabytes that nothing would ever read. Returns what was removed."""
    removed = []
    try:
        entries = list(Path(parent).iterdir())
    except OSError:
        return removed
    for entry in entries:
        match = _PARTIAL.match(entry.name)
        if not match or not entry.is_dir():
            continue
        try:
            age = time.time() - entry.stat().st_mtime
        except OSError:
            continue
        pid = int(match["pid"])
        gone = ((match["host"] == _host() and pid != os.getpid() and not _pid_alive(pid))
                or age > ORPHAN_AGE_S)
        if gone:
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry)
    return removed


@contextmanager
def atomic_dir(final: Path) -> Iterator[Path]:
    """Yield a temporary directory that replaces `final` only if the block finishes.

    An interrupted write leaves no half-finished directory that looks complete; one killed
    outright leaves its temporary directory, which the next atomic_dir in the same parent removes.
    """
    final.parent.mkdir(parents=True, exist_ok=True)
    remove_orphans(final.parent)
    tmp = _partial_dir(final)
    try:
        yield tmp
        if final.exists():  # moved aside, not deleted first: a reader never finds neither
            trash = _partial_dir(final)
            final.rename(trash / final.name)
            tmp.rename(final)
            shutil.rmtree(trash, ignore_errors=True)
        else:
            tmp.rename(final)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def _partial_dir(final: Path) -> Path:
    """A temporary directory beside `final`, named so that `remove_orphans` knows its writer;
    readable like any cache directory (mkdtemp makes it private)."""
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.partial-{_host()}-{os.getpid()}-", dir=final.parent))
    tmp.chmod(0o755)
    return tmp


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
