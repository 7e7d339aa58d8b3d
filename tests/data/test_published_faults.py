"""Published files under hostile or failing conditions (issue 25): a bad download never poisons the
cache, downloads are capped in bytes and time, damaged copies are named, and the one check of a
shared copy refuses a tampered file on both routes (issue 22, item 6).

Every server here runs on 127.0.0.1 and stops itself: an endless or trickling body ends when the
client hangs up or after a few seconds."""

from __future__ import annotations

import http.server
import io
import json
import pickle
import threading
import time
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest

from tests.data.test_published import _entry_for, _log64, _synthetic_probs
from vlmcal_utils.data import PUBLISHED_LOGITS, content_sha256, fetch_published_logits
from vlmcal_utils.data import download as download_module
from vlmcal_utils.data.published import resolve_published

_SERVER_SECONDS = 10.0  # no handler of these servers writes for longer than this


class _Server:
    """``routes``: URL path -> a callable writing the response (status, headers, body) to the handler."""

    def __init__(self):
        self.routes: dict[str, object] = {}
        self.sent: dict[str, int] = {}
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                route = outer.routes.get(self.path)
                if route is None:
                    self.send_error(404)
                    return
                try:
                    outer.sent[self.path] = route(self)
                except (BrokenPipeError, ConnectionResetError):
                    outer.sent[self.path] = -1  # the client hung up: what a capped download does

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def path(self, entry, index=0):
        return f"/{entry.repo}/{entry.commit}/{entry.paths[index]}"

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def _body(data: bytes, status=200, content_type="application/octet-stream", length=None):
    """A response with ``data``; ``length`` overrides Content-Length (a body cut short)."""
    def write(handler):
        handler.send_response(status)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(data) if length is None else length))
        handler.end_headers()
        handler.wfile.write(data)
        return len(data)
    return write


def _endless(handler):
    """Zeros without a Content-Length, until the client hangs up or the server's time is up."""
    handler.send_response(200)
    handler.send_header("Content-Type", "application/octet-stream")
    handler.end_headers()
    chunk, sent, stop = b"\0" * 65536, 0, time.monotonic() + _SERVER_SECONDS
    while time.monotonic() < stop:
        handler.wfile.write(chunk)
        sent += len(chunk)
    return sent


def _trickle(data: bytes, pause: float):
    def write(handler):
        handler.send_response(200)
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        stop = time.monotonic() + _SERVER_SECONDS
        for i in range(len(data)):
            if time.monotonic() > stop:
                break
            handler.wfile.write(data[i:i + 1])
            handler.wfile.flush()
            time.sleep(pause)
        return len(data)
    return write


@pytest.fixture()
def server():
    srv = _Server()
    yield srv
    srv.close()


@pytest.fixture()
def no_shared(monkeypatch):
    monkeypatch.delenv("VLMCAL_SHARED", raising=False)
    monkeypatch.delenv("VLMCAL_OFFLINE", raising=False)


def _pickle_entry(monkeypatch, sizes=()):
    """A synthetic ``pickle_probs`` entry in the registry, and its good source."""
    probs, labels = _synthetic_probs()
    logp = _log64(probs)
    entry = _entry_for("pickle_probs", ("data/src.p",),
                       {"logits_val": logp[:20], "labels_val": labels[:20].astype(np.int64),
                        "logits_test": logp[20:], "labels_test": labels[20:].astype(np.int64)})
    good = pickle.dumps((probs, labels), protocol=2)
    entry = type(entry)(**{**entry.__dict__, "sizes": sizes or (len(good),)})
    monkeypatch.setitem(PUBLISHED_LOGITS, entry.name, entry)
    return entry, good


class _Evil:
    def __reduce__(self):
        return (print, ("this code must never run",))


def _poison(kind: str, good: bytes):
    if kind == "html-200":
        return _body(b"<!DOCTYPE html><html><body>Please sign in to the network</body></html>",
                     content_type="text/html")
    if kind == "html-200-as-octets":  # a portal that lies about the content type
        return _body(b"\n  <html><head><title>502</title></head></html>")
    if kind == "short-body":
        return _body(good[: len(good) // 2], length=len(good))
    if kind == "refused-pickle":
        return _body(pickle.dumps((_Evil(), np.zeros(3)), protocol=2))
    if kind == "http-500":
        return _body(b"oops", status=500)
    raise AssertionError(kind)


def _left_in(cache: Path) -> list[str]:
    return sorted(str(p.relative_to(cache)) for p in cache.rglob("*")) if cache.exists() else []


@pytest.mark.parametrize("kind", ["html-200", "html-200-as-octets", "short-body", "refused-pickle", "http-500"])
def test_a_poisoned_source_is_reported_then_the_good_server_recovers(kind, tmp_path, server, no_shared,
                                                                     monkeypatch, capsys):
    """Before: the bad response was kept as the source, and every later call raised from it."""
    entry, good = _pickle_entry(monkeypatch)
    cache = tmp_path / "cache"
    server.routes[server.path(entry)] = _poison(kind, good)
    found = resolve_published(entry.name, root=cache, base_url=server.url)
    assert found.path is None and found.origin in {"unreachable", "unusable"}
    assert "unavailable, because" in found.reason and "\n" not in found.reason
    assert "allow_pickle" not in found.reason
    assert _left_in(cache) == [], "a failed download must leave nothing in the cache"
    assert "must never run" not in capsys.readouterr().out
    server.routes[server.path(entry)] = _body(good)
    again = resolve_published(entry.name, root=cache, base_url=server.url)
    assert again.origin == "download" and content_sha256(again.path) == entry.sha256
    assert _left_in(cache) == [entry.filename]


def test_an_npz_with_object_arrays_is_refused_without_numpys_unpickling_advice(tmp_path, server, no_shared,
                                                                               monkeypatch):
    probs, labels = _synthetic_probs()
    entry = _entry_for("netcal_npz", ("rec.npz",), {"logits_val": _log64(probs)})
    monkeypatch.setitem(PUBLISHED_LOGITS, entry.name, entry)
    buffer = io.BytesIO()
    np.savez(buffer, predictions=np.array([probs, "x"], dtype=object), ground_truth=labels)
    server.routes[server.path(entry)] = _body(buffer.getvalue())
    found = resolve_published(entry.name, root=tmp_path, base_url=server.url)
    assert found.origin == "unusable" and "Python objects" in found.reason
    assert "allow_pickle" not in found.reason and "unsafely" not in found.reason
    assert _left_in(tmp_path) == []


def test_an_endless_body_is_cut_at_the_registry_cap(tmp_path, server, no_shared, monkeypatch):
    """Before: an endless body reached 3 GB in 17 s. Now: cap = expected size x margin."""
    entry, _ = _pickle_entry(monkeypatch, sizes=(1_000_000,))
    server.routes[server.path(entry)] = _endless
    start = time.monotonic()
    found = resolve_published(entry.name, root=tmp_path, base_url=server.url)
    assert time.monotonic() - start < 5
    assert found.origin == "unreachable" and "cap" in found.reason
    max_bytes, _ = download_module.download_limits(1_000_000)
    assert max_bytes == 1_500_000 and f"{max_bytes} bytes" in found.reason
    assert _left_in(tmp_path) == []


def test_an_announced_oversize_body_is_refused_before_reading(tmp_path, server, no_shared, monkeypatch):
    entry, good = _pickle_entry(monkeypatch, sizes=(1000,))
    server.routes[server.path(entry)] = _body(good + b"\0" * 200_000)
    found = resolve_published(entry.name, root=tmp_path, base_url=server.url)
    assert found.origin == "unreachable" and "announces" in found.reason and _left_in(tmp_path) == []


def test_a_trickle_is_stopped_by_the_total_time_cap(tmp_path, server, no_shared, monkeypatch):
    """Before: the 60 s timeout was per read, so a file trickled over 140 s was accepted."""
    entry, good = _pickle_entry(monkeypatch)
    monkeypatch.setattr(download_module, "_BASE_SECONDS", 0.5)
    monkeypatch.setattr(download_module, "_MIN_BYTES_PER_SECOND", 10**12)
    server.routes[server.path(entry)] = _trickle(good, pause=0.02)  # ~50 bytes/s: minutes for the file
    start = time.monotonic()
    found = resolve_published(entry.name, root=tmp_path, base_url=server.url)
    assert time.monotonic() - start < 3
    assert found.origin == "unreachable" and "time limit" in found.reason and _left_in(tmp_path) == []


def _bomb(inflated: int) -> bytes:
    """A valid .npz whose one member inflates to ``inflated`` bytes of zeros (about 1000x smaller)."""
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f4", "fortran_order": False,
                                                  "shape": (inflated // 4,)})
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive, \
            archive.open("predictions.npy", "w", force_zip64=True) as member:
        member.write(header.getvalue())
        zeros = b"\0" * 2**20
        for _ in range(inflated // len(zeros)):
            member.write(zeros)
    return out.getvalue()


def test_a_decompression_bomb_is_refused_before_inflating(tmp_path, server, no_shared, monkeypatch):
    """Before: an npz bomb (1 MB -> 1 GiB) peaked at 5.9 GB before the hash refused it."""
    bomb = _bomb(64 * 2**20)
    assert len(bomb) < 2**20
    entry = _entry_for("netcal_npz", ("rec.npz",), {"logits_val": np.zeros(1)})
    entry = type(entry)(**{**entry.__dict__, "sizes": (len(bomb),)})  # the download cap lets it through
    monkeypatch.setitem(PUBLISHED_LOGITS, entry.name, entry)
    server.routes[server.path(entry)] = _body(bomb)
    tracemalloc.start()
    try:
        found = resolve_published(entry.name, root=tmp_path, base_url=server.url)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert found.origin == "unusable" and "decompression bomb" in found.reason
    assert peak < 32 * 2**20, f"peak {peak} bytes: the bomb was inflated"
    assert _left_in(tmp_path) == []


def test_a_full_disk_becomes_the_labelled_fallback(tmp_path, server, no_shared, monkeypatch):
    """Before: a full disk raised a raw OSError out of the resolver."""
    import vlmcal_utils.data.published as published

    entry, good = _pickle_entry(monkeypatch)
    server.routes[server.path(entry)] = _body(good)

    def full(path, data):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(published, "atomic_write_bytes", full)
    found = resolve_published(entry.name, root=tmp_path, base_url=server.url)
    assert found.origin == "unreachable" and "No space left" in found.reason
    assert _left_in(tmp_path) == []


def test_a_damaged_cached_copy_is_named_and_made_again(tmp_path, server, no_shared, monkeypatch):
    entry, good = _pickle_entry(monkeypatch)
    (tmp_path / entry.filename).write_bytes(b"PK\x03\x04 cut short")
    offline = resolve_published(entry.name, root=tmp_path, download=False)
    assert offline.path is None and "cached copy was deleted" in offline.reason and "damaged" in offline.reason
    (tmp_path / entry.filename).write_bytes(b"PK\x03\x04 cut short")
    server.routes[server.path(entry)] = _body(good)
    found = resolve_published(entry.name, root=tmp_path, base_url=server.url)
    assert found.origin == "download" and content_sha256(found.path) == entry.sha256
    assert "cached copy was deleted" in found.reason


# ----------------------------------------------- the one check of a shared copy (issue 22, item 6)
@pytest.fixture()
def tampered_shared(shared, tmp_path, monkeypatch):
    """A shared folder whose copy of one file holds other numbers (one logit changed), or a cut-short copy."""
    name = "markus93_densenet40_cifar10"
    folder = tmp_path / "shared" / "data" / "logits"
    folder.mkdir(parents=True)
    with np.load(shared / "data" / "logits" / f"{name}.npz") as npz:
        arrays = {k: npz[k] for k in npz.files}

    def make(kind: str) -> Path:
        target = folder / f"{name}.npz"
        if kind == "tampered":
            arrays["logits_test"][0, 0] += 1.0
            np.savez_compressed(target, **arrays)
        else:
            target.write_bytes((shared / "data" / "logits" / f"{name}.npz").read_bytes()[:5000])
        monkeypatch.setenv("VLMCAL_SHARED", str(tmp_path / "shared"))
        return target

    return name, make


@pytest.mark.parametrize("kind", ["tampered", "cut-short"])
def test_a_bad_shared_copy_is_refused_on_both_routes(kind, tampered_shared, tmp_path):
    """Before (issue 22): the check was written twice, and deleting either left every test green."""
    name, make = tampered_shared
    target = make(kind)
    message = "pinned hash" if kind == "tampered" else "damaged"
    with pytest.raises(ValueError, match=message) as fetched:
        fetch_published_logits(name, root=tmp_path / "cache")
    with pytest.raises(ValueError, match=message) as resolved:
        resolve_published(name, root=tmp_path / "cache")
    for err in (fetched.value, resolved.value):
        assert str(target) in str(err) and type(err) is ValueError
    assert target.is_file(), "a shared copy is never deleted (it is someone's data folder)"


def test_resolver_reports_a_good_download_in_one_line(tmp_path, server, no_shared, monkeypatch):
    entry, good = _pickle_entry(monkeypatch)
    server.routes[server.path(entry)] = _body(good)
    found = resolve_published(entry.name, root=tmp_path, base_url=server.url)
    assert found.origin == "download" and "\n" not in found.reason
    with np.load(found.path) as npz:
        assert json.loads(str(npz["meta"])) == entry.meta


def test_every_registry_entry_knows_its_source_sizes():
    """The download caps come from the registry: one size per source path, for every entry."""
    for entry in PUBLISHED_LOGITS.values():
        assert len(entry.sizes) == len(entry.paths) and all(s > 0 for s in entry.sizes), entry.name
