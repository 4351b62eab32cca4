"""Where the library keeps what it computes: the cache root, atomic writes, file digests."""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from emergent_lib.paths import atomic_dir, atomic_write_text, cache_root, file_digest


def test_cache_root_honours_emergent_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("EMERGENT_CACHE", str(tmp_path / "mine"))
    assert cache_root() == tmp_path / "mine"
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("EMERGENT_CACHE", "~/elsewhere")
    assert cache_root() == tmp_path / "home" / "elsewhere"  # a '~' in the variable is the user's home
    monkeypatch.delenv("EMERGENT_CACHE")
    assert cache_root() == tmp_path / "home" / ".cache" / "emergent_lib"


def test_atomic_write_text_replaces_the_file_and_leaves_no_temporary_files(tmp_path):
    final = tmp_path / "deep" / "cell.json"
    atomic_write_text(final, "old")
    assert final.read_text() == "old" and os.listdir(final.parent) == ["cell.json"]
    with final.open() as reader:  # a reader that opened the old file before the write
        atomic_write_text(final, "new, and longer")
        assert reader.read() == "old"  # the old file was replaced whole, not overwritten in place
    assert final.read_text() == "new, and longer" and os.listdir(final.parent) == ["cell.json"]


def test_a_failed_atomic_write_keeps_the_old_file(tmp_path):
    final = tmp_path / "cell.json"
    atomic_write_text(final, "old")
    with pytest.raises(TypeError):
        atomic_write_text(final, 12345)  # fails while writing the temporary file
    assert final.read_text() == "old" and os.listdir(tmp_path) == ["cell.json"]


def test_atomic_dir_appears_only_when_its_block_finishes(tmp_path):
    final = tmp_path / "ckpt"
    with atomic_dir(final) as tmp:
        (tmp / "weights").write_text("1")
        assert not final.exists()  # nothing that looks complete while it is being written
    assert os.listdir(final) == ["weights"] and os.listdir(tmp_path) == ["ckpt"]
    with pytest.raises(RuntimeError, match="interrupted"):
        with atomic_dir(final) as tmp:
            (tmp / "half").write_text("2")
            raise RuntimeError("interrupted")
    assert os.listdir(final) == ["weights"] and os.listdir(tmp_path) == ["ckpt"]  # the old one stays
    with atomic_dir(final) as tmp:
        (tmp / "weights-v2").write_text("3")
    assert os.listdir(final) == ["weights-v2"] and os.listdir(tmp_path) == ["ckpt"]  # replaced whole


def test_file_digest_is_the_sha256_and_changes_with_the_content(tmp_path):
    path = tmp_path / "data.bin"
    path.write_bytes(b"abc")
    assert file_digest(path) == hashlib.sha256(b"abc").hexdigest()
    before = file_digest(path)
    stat = path.stat()
    path.write_bytes(b"abd")  # same size: only the modification time tells them apart
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    assert file_digest(path) == hashlib.sha256(b"abd").hexdigest() != before
    path.write_bytes(b"a longer content")
    assert file_digest(path) == hashlib.sha256(b"a longer content").hexdigest()
    assert file_digest(Path(os.path.relpath(path))) == file_digest(path)  # one digest per file, however named
