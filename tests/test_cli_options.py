"""Options, name lists and arguments refused before any work, in one line naming the option (exit 2); resources
(a full disk, a read-only cache, a Ray address) met as one line, or as the documented warning."""

from __future__ import annotations

import errno
import os
import socket
import time

import pytest
import toy_plugins
from toy_plugins import toy_suite
from typer.testing import CliRunner

import benchsuite
from benchsuite.cli import app
from benchsuite.contract.errors import BenchsuiteError
from benchsuite.contract.manager import Registry, make_plugin_manager

runner = CliRunner()


@pytest.fixture(scope="module")
def plugins():
    pm = make_plugin_manager()
    pm.register(toy_plugins, name="toy_plugin")
    return Registry(pm)


def toy_evaluate(toys, tmp_path, **arguments):
    settings = dict(suite=toy_suite(designs=toy_suite().designs[:1]), plugins=toys, out=tmp_path / "out",
                    cache=tmp_path / "cache", permutations=3, progress=False)
    return benchsuite.evaluate(**{**settings, **arguments})


@pytest.mark.parametrize("args, message", [
    (["--vision", ""], "--vision names no vision model; give one or more names (benchsuite list vision)"),
    (["--text", " , "], "--text names no text model; give one or more names (benchsuite list text)"),
    (["--text", "glove_6b_50d,glove_6b_50d"], "--text names 'glove_6b_50d' more than once; name each once"),
    (["--vision", "pixels,pixels,mobilenet_v2"], "--vision names 'pixels' more than once"),
    (["--metrics", "rsa,rsa"], "--metrics names 'rsa' more than once"),
    (["--address", "ray://head:10001"], "--address 'ray://head:10001' names a Ray cluster, so it works with "
                                        "--executor ray only; add --executor ray or leave --address out"),
    (["--device", "cuda:99"], "--device cuda:99: torch sees"),
    (["--permutations", "1000000000"], "--permutations 1000000000 is more than 100000, the most a run takes"),
    (["--set", "pypi_photos.cache_dir=2024"], "--set pypi_photos.cache_dir=2024: option 'cache_dir' of the images "
                                              "item 'pypi_photos' takes str | None, not int"),
    (["--set", "pypi_photos.cache_dir=[1,2]"], "takes str | None, not list"),
    (["--executor", "ray", "--address", "head"], "--address 'head' is not a Ray address; use HOST:PORT"),
])
def test_the_run_command_refuses_before_any_work_in_one_line(tmp_path, args, message):
    result = runner.invoke(app, ["run", "--all", "--out", str(tmp_path / "out"), "--cache", str(tmp_path / "cache"),
                                 "--leaderboard", str(tmp_path / "board"), "--quiet", "--permutations", "0", *args])
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split()) and "Traceback" not in result.output
    assert not (tmp_path / "cache" / "vision").exists() and not (tmp_path / "out" / "records").exists()


@pytest.mark.parametrize("argument, value, message", [
    ("out", 123, "--out must be a path (str or pathlib.Path), got int 123"),
    ("cache", 1.5, "--cache must be a path (str or pathlib.Path), got float 1.5"),
    ("leaderboard", ["board"], "--leaderboard must be a path (str or pathlib.Path), got list ['board']"),
    ("registry", 7, "--registry must be a path (str or pathlib.Path), got int 7"),
    ("suite", 5, "--suite must be a suite name or a Suite, got int 5"),
    ("progress", "yes", "progress must be True or False, got str 'yes'"),
    ("memory_budget", 1.5, "--memory-budget must be a number of bytes or a size such as '2GiB', got float 1.5"),
    ("device", 0, "--device 0 is not supported; use cpu, cuda or cuda:N"),
    ("vision", [""], "--vision names no vision model in ['']"),
    ("text", ["toy_text_good", "toy_text_good"], "--text names 'toy_text_good' more than once"),
    ("permutations", 10**9, "--permutations 1000000000 is more than 100000"),
    ("address", "head:6379", "--address 'head:6379' names a Ray cluster, so it works with --executor ray only"),
    ("plugins", "toy", "plugins must be a benchsuite.contract.manager.Registry, got str 'toy'"),
    ("executor", ["ray"], "--executor ['ray'] is not known; use local or ray"),
    ("overrides", {"toy_net": "late"}, "--set expects {item: {option: value}}"),
    ("batch_size", "8", "--batch-size must be a whole number of at least 1, got '8'"),
])
def test_evaluate_refuses_wrongly_typed_arguments_naming_them(plugins, tmp_path, argument, value, message):
    arguments = {argument: value} if argument != "registry" else {"registry": value, "suite": "offline"}
    with pytest.raises(BenchsuiteError) as refused:
        toy_evaluate(plugins, tmp_path, **arguments)
    assert str(refused.value).startswith(message)
    assert not (tmp_path / "cache" / "vision").exists()


@pytest.mark.needs("torch")
def test_a_cuda_index_torch_does_not_see_is_refused_and_one_it_sees_is_what_records_name(monkeypatch):
    import torch

    from benchsuite.api import resolved_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert resolved_device("cuda:1") == "cuda:1" and resolved_device("cuda") == "cuda"
    with pytest.raises(BenchsuiteError, match=r"^--device cuda:2: torch sees 2 CUDA device\(s\) \(cuda:0 to cuda:1\); "
                                              r"use one of them, cuda \(the CPU when there is none\) or cpu$"):
        resolved_device("cuda:2")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(BenchsuiteError, match=r"torch sees 0 CUDA device\(s\) \(none\)"):
        resolved_device("cuda:0")
    assert resolved_device("cuda", say=lambda message: None) == "cpu"


def test_a_full_disk_under_out_is_one_line_naming_the_file_the_option_and_the_fix(plugins, tmp_path, monkeypatch):
    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(BenchsuiteError) as refused:
        toy_evaluate(plugins, tmp_path)
    out = tmp_path / "out"
    assert str(refused.value) == (f"cannot write {out / 'concepts-toy.json'}: No space left on device; free some "
                                  f"space under --out {out} or pass another --out, then rerun (finished results "
                                  "are kept)")
    assert not list(out.glob(".*.tmp"))  # the half-written file is removed
    monkeypatch.undo()
    assert all(r.status == "ok" for r in toy_evaluate(plugins, tmp_path).records)  # the rerun just works


@pytest.mark.parametrize("code, message", [
    (errno.ENOSPC, "cannot write {file}: No space left on device; free some space under --out {out} or pass "
                   "another --out, then rerun (finished results are kept)"),
    (errno.EROFS, "cannot write {file}: Read-only file system; mount it writable under --out {out}"),
    (errno.EACCES, "cannot open {file}: Permission denied; make it writable under --out {out}"),
])
def test_a_full_or_read_only_disk_is_one_line_on_the_command_line(tmp_path, monkeypatch, code, message):
    from benchsuite import api

    out = tmp_path / "out"

    def failing(*args, **kwargs):
        raise OSError(code, os.strerror(code), str(out / "results.json"))

    monkeypatch.setattr(api, "run_chosen", failing)
    result = runner.invoke(app, ["run", "--all", "--vision", "pixels", "--out", str(out), "--cache",
                                 str(tmp_path / "cache"), "--leaderboard", str(tmp_path / "board"), "--quiet"])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "error: " + message.format(file=out / "results.json", out=out) in " ".join(result.output.split())


def test_a_read_only_cache_only_warns_and_the_run_scores(plugins, tmp_path, monkeypatch, caplog):
    import tempfile

    from benchsuite.extraction import cache as cache_module

    cache = tmp_path / "cache"
    cache.mkdir()
    real_temporary, real_sibling = tempfile.TemporaryFile, cache_module.temporary_sibling

    def read_only(path):
        if str(path).startswith(str(cache)):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))

    monkeypatch.setattr(tempfile, "TemporaryFile", lambda dir=None, **o: read_only(dir) or real_temporary(dir=dir))
    monkeypatch.setattr(cache_module, "temporary_sibling", lambda path: read_only(path) or real_sibling(path))
    results = toy_evaluate(plugins, tmp_path, cache=cache)
    assert results.records and all(r.status == "ok" for r in results.records)
    assert f"--cache {cache} is not writable (Read-only file system); reading the entries it holds" in caplog.text
    assert not any(cache.rglob("*.npz"))


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize("address, message", [
    ("head", "--address 'head' is not a Ray address; use HOST:PORT (the head's GCS port, e.g. head:6379), "
             "ray://HOST:PORT (Ray Client, e.g. ray://head:10001) or auto"),
    ("ray://head:99999", "--address 'ray://head:99999' is not a Ray address"),
    ("http://head:8265", "--address 'http://head:8265' is not a Ray address"),
    ("", "--address must be a Ray address such as ray://head:10001, got str ''"),
    (None, "nothing answers at 127.0.0.1:{port} within 5 s (Connection refused); start the cluster (ray start "
           "--head) or fix the address"),
])
def test_a_malformed_or_unreachable_ray_address_is_one_line_and_fast(tmp_path, address, message):
    port = closed_port()
    address = f"127.0.0.1:{port}" if address is None else address
    started = time.monotonic()
    with pytest.raises(BenchsuiteError) as refused:
        benchsuite.evaluate(vision="pixels", executor="ray", address=address,
                            out=tmp_path / "out", cache=tmp_path / "cache", progress=False)
    assert message.format(port=port) in str(refused.value) and "\n" not in str(refused.value)
    assert time.monotonic() - started < 6 and not (tmp_path / "out" / "records").exists()


def answering(reply: bytes) -> int:
    """A local port whose listener answers its first connection with ``reply``."""
    import threading

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)

    def answer():
        connection, _ = listener.accept()
        with connection, listener:
            connection.recv(64)
            connection.sendall(reply)

    threading.Thread(target=answer, daemon=True).start()
    return listener.getsockname()[1]


def test_an_address_where_no_grpc_server_answers_is_refused_and_one_that_speaks_grpc_is_joined():
    from benchsuite.run.ray_executor import check_address

    port = answering(b"HTTP/1.1 400 Bad Request\r\n\r\n")
    with pytest.raises(BenchsuiteError, match=rf"^--address 127.0.0.1:{port}: what answers at 127.0.0.1:{port} is "
                                              r"not a Ray cluster \(it does not speak gRPC\); give the head's GCS"):
        check_address(f"127.0.0.1:{port}")
    check_address(f"ray://127.0.0.1:{answering(bytes([0, 0, 6, 4, 0, 0, 0, 0, 0]))}")  # an HTTP/2 SETTINGS frame
