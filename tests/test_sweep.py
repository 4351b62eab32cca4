"""Sweep cells: keys that fingerprint what determines a result, and a cache safe for
several processes at once. Fast tests: no model is loaded unless a test says so."""
from __future__ import annotations

import dataclasses
import multiprocessing
import os
import shutil
import warnings

import pytest

from emergent_lib.models import ModelLoadError
from emergent_lib.paths import file_digest
from emergent_lib.sweep import _CellCache, cell_key, run_sweep
from emergent_lib.tasks import get_task

CAPITALS = """
name: capitals
template: "Q: What is the capital of {country}?\\nA:"
target: " {capital}"
items:
  - {country: France, capital: Paris}
  - {country: Japan, capital: Tokyo}
  - {country: Kenya, capital: Nairobi}
  - {country: Peru, capital: Lima}
"""


def _key(task, model="pythia-160m"):
    return cell_key(model, task, "direct", 2, 0, 2)


def test_cell_key_changes_with_any_task_field_under_the_same_name():
    """A task edited in a notebook keeps its name; its cached cells must not be reused."""
    task = get_task("addition-2d")
    key = _key("addition-2d")
    assert key == _key("addition-2d") == _key(task)  # the same task: the same cell
    edits = {"max_new_tokens": 2, "stop": ("\n", " "), "template": "{a} plus {b} =",
             "target_template": "{answer}", "instruction": "Add.", "chance": {"exact_match": 0.5},
             "metrics": ("exact_match",), "answer_of": lambda f: str(f["a"] - f["b"]),
             "make_fields": lambda rng: {"a": rng.randrange(50), "b": rng.randrange(50)}}
    keys = [_key(dataclasses.replace(task, **{field: value})) for field, value in edits.items()]
    assert all(k["task"] == "addition-2d" for k in keys)  # the table still says addition-2d
    fingerprints = {k["task_fingerprint"] for k in keys} | {key["task_fingerprint"]}
    assert len(fingerprints) == len(edits) + 1


def test_cell_key_names_the_numeric_mode_of_the_evaluating_process(monkeypatch):
    """A cell evaluated at another SIMD level is another cell (greedy ties can break differently)."""
    import emergent_lib.sweep as sweep

    pinned = cell_key("smollm2-135m", "addition-2d", "direct", 0, 0, 10)
    from emergent_lib.numerics import expected_mode

    assert pinned["numerics"] == expected_mode()  # the suite computes in the pinned mode
    monkeypatch.setattr(sweep, "current_mode", lambda: "x86_64/AVX512/mkl-isa=auto/torch=2.13.0+cpu")
    other = cell_key("smollm2-135m", "addition-2d", "direct", 0, 0, 10)
    assert {k for k in pinned if pinned[k] != other[k]} == {"numerics"}


def test_cell_key_changes_when_a_task_file_is_edited(tmp_path):
    path = tmp_path / "capitals.yaml"
    path.write_text(CAPITALS)
    before = _key(str(path))
    assert before == _key(str(path))
    path.write_text(CAPITALS.replace("Nairobi", "Mombasa"))
    assert _key(str(path)) != before
    path.write_text(CAPITALS)
    assert _key(str(path)) == before


def test_cell_key_fingerprints_a_local_checkpoint(tiny_checkpoint, tmp_path):
    """A checkpoint directory retrained in place is another model under the same path."""
    from safetensors.torch import load_file, save_file

    path = tmp_path / "ckpt"
    shutil.copytree(tiny_checkpoint, path)
    before = _key("addition-1d", model=str(path))
    assert before["weights"] and before == _key("addition-1d", model=str(path))
    weights = path / "model.safetensors"
    tensors = load_file(weights)
    save_file(tensors, weights, metadata={"format": "pt"})  # the same weights rewritten
    assert _key("addition-1d", model=str(path)) == before
    name = next(iter(tensors))
    tensors[name] = tensors[name] + 1
    save_file(tensors, weights, metadata={"format": "pt"})
    assert _key("addition-1d", model=str(path))["weights"] != before["weights"]
    assert "weights" not in _key("addition-1d")  # a registry name has no local files


def test_converted_gguf_is_named_by_content(tmp_path, monkeypatch):
    """Two GGUF files of the same name and size are two conversions, not one."""
    from emergent_lib.models import _converted_dir

    monkeypatch.setenv("EMERGENT_CACHE", str(tmp_path / "cache"))
    a, b = tmp_path / "a" / "m.gguf", tmp_path / "b" / "m.gguf"
    for path, byte in ((a, b"a"), (b, b"b")):
        path.parent.mkdir()
        path.write_bytes(byte * 1000)
    assert _converted_dir(a) != _converted_dir(b)
    assert _converted_dir(a).name == "m-" + file_digest(a)[:16]


def test_file_digest_is_cached_by_path_size_and_mtime(tmp_path):
    path = tmp_path / "weights.bin"
    path.write_bytes(b"x" * 1000)
    first = file_digest(path)
    stat = path.stat()
    path.write_bytes(b"y" * 1000)  # same size; put the old modification time back
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert file_digest(path) == first  # not read again
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10 ** 9))
    assert file_digest(path) != first


KEY = {"model": "m", "task": "t"}
HERE = os.path.dirname(os.path.abspath(__file__))  # a directory that is no checkpoint


def _write_many(root: str, tag: int, times: int) -> None:
    cache = _CellCache(root)
    body = {"card": {"tag": tag}, "records": [{"i": i, "tag": tag} for i in range(400)], "metrics": {}}
    for _ in range(times):
        cache.put(KEY, body)


def test_two_processes_writing_one_cell_and_a_reader_meanwhile(tmp_path):
    """Sweeps sharing a cache write the same cell at once: neither may crash, and a reader
    must only ever see a whole cell (and never delete one)."""
    ctx = multiprocessing.get_context("fork")
    writers = [ctx.Process(target=_write_many, args=(str(tmp_path), tag, 150)) for tag in (1, 2)]
    for w in writers:
        w.start()
    cache, seen, missing_after_seen = _CellCache(tmp_path), 0, 0
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        while any(w.is_alive() for w in writers):
            body = cache.get(KEY)
            if body is not None:
                seen += 1
            elif seen:
                missing_after_seen += 1
    for w in writers:
        w.join()
    assert [w.exitcode for w in writers] == [0, 0]
    assert [str(w.message) for w in caught] == [] and missing_after_seen == 0
    final = cache.get(KEY)
    assert final["card"]["tag"] in (1, 2) and len(final["records"]) == 400
    assert sorted(p.name for p in tmp_path.iterdir()) == [cache.path(KEY).name]  # no temp files left


@pytest.mark.parametrize("bad, message", [
    ("smolm2-135m", "unknown model 'smolm2-135m'. Did you mean 'smollm2-135m'?"),
    ("toy/addition-3d/w64-l3", "toy family 'addition-3d' has no size 'w64-l3'. Did you mean 'w64-l2'?"),
    ("toy/addition-3e/w64-l2", "unknown toy family 'addition-3e'. Did you mean 'addition-3d'?"),
    ("toy/addition-3d", "toy model 'addition-3d' is not of the form <family>/<size>"),
    (HERE, f"'{HERE}' is neither a .gguf file nor a checkpoint directory (no config.json in it)"),
])
def test_a_bad_second_model_fails_before_the_first_is_evaluated(tmp_path, bad, message):
    """A typo in the second model of a sweep used to surface only after the first model's cells."""
    with pytest.raises(ModelLoadError) as err:
        run_sweep(["smollm2-135m", bad], ["addition-1d"], n=2, cache_dir=tmp_path, progress=False)
    assert message in str(err.value)
    assert list(tmp_path.iterdir()) == []  # no cell was computed
