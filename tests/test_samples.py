"""Sample registry and downloads, against a loopback HTTP server serving ../shared/data."""

from __future__ import annotations

import shutil
import zipfile

import pytest

from speech2face import samples
from speech2face.errors import UserError
from tests.http_server import serve


def test_registry_covers_the_manifest(data_dir):
    rows = samples.read_registry()
    by_path = {r["path"]: r for r in rows}
    manifest = samples.registry_rows(data_dir / "manifest.csv")
    assert len(rows) == len(manifest)
    for row in manifest:
        assert by_path[row["path"]]["sha256"] == row["sha256"]
    demo = [r for r in rows if r["kind"] in samples.DEMO_KINDS]
    assert demo and all(r["url"].startswith("{base}/") for r in demo)
    assert any(r["member"] for r in demo)  # archive.zip::member rows


def _serve_tree(data_dir, www, rows):
    """Lay files out as GitHub serves them: <repo>/raw/<commit>/<path> (zips for members)."""
    for row in rows:
        rel = row["url"].replace("{base}/", "")
        target = www / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if row["member"]:
            with zipfile.ZipFile(target, "a") as z:
                z.write(data_dir / row["path"], row["member"])
        else:
            shutil.copy(data_dir / row["path"], target)


def test_fetch_checks_sha256(data_dir, tmp_path):
    rows = samples.read_registry()
    plain = next(r for r in rows if r["kind"] == "face_photo" and not r["member"])
    member = next(r for r in rows if r["member"])
    sidecar = next(r for r in rows if r["kind"] == "sidecar_audio")
    chosen = [plain, member, sidecar]
    www = tmp_path / "www"
    _serve_tree(data_dir, www, chosen)
    cache = tmp_path / "cache"
    with serve(www) as base:
        out = samples.fetch_samples(cache, rows=chosen, base_url=base)
        for row in chosen:
            assert samples.sha256(out / row["path"]) == row["sha256"]
        manifest = (out / "manifest.csv").read_text()
        assert plain["path"] in manifest and member["path"] in manifest

        bad = dict(plain, path="faces/tampered/x.jpg", sha256="0" * 64)
        with pytest.raises(UserError, match="sha256 mismatch") as err:
            samples.fetch_samples(cache, rows=[bad], base_url=base)
        assert "faces/tampered/x.jpg" in str(err.value)
        assert not (cache / "faces/tampered/x.jpg").exists()  # not kept

        missing = dict(plain, path="faces/none/y.jpg", url="{base}/no/such/file.jpg")
        with pytest.raises(UserError, match="cannot download"):
            samples.fetch_samples(cache, rows=[missing], base_url=base)


def test_local_copy_preferred(data_dir, monkeypatch):
    monkeypatch.setenv(samples.SAMPLES_ENV, str(data_dir))
    assert samples.sample_data() == data_dir
    with pytest.raises(UserError, match="/nonexistent/folder"):
        samples.sample_data("/nonexistent/folder")  # an explicit path is never replaced
