"""GENMEDIA_ASSET_URL and its companions: the stores they name, the older GENMEDIA_ASSET_ROOT, and values
that stop a process at start-up with a message naming the variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from genmedia.assetstore import StoreSettings, open_store
from genmedia.assetstore.filestore import FileStore
from genmedia.assetstore.s3store import S3Store
from genmedia.config import ConfigError

VARIABLES = ("GENMEDIA_ASSET_URL", "GENMEDIA_ASSET_ROOT", "GENMEDIA_ASSET_PART_BYTES",
             "GENMEDIA_ASSET_SWEEP_GRACE_SECONDS", "GENMEDIA_ASSET_LINK_ENDPOINT_URL", "GENMEDIA_ASSET_SCRATCH_DIR")


@pytest.fixture(autouse=True)
def clean(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GENMEDIA_VAR_DIR", str(tmp_path / "var"))


def test_the_default_is_the_folder_var_assets(tmp_path: Path) -> None:
    store = open_store("video")
    assert isinstance(store, FileStore) and store.root == tmp_path / "var" / "assets"
    assert store.url == (tmp_path / "var" / "assets").as_uri()
    settings = StoreSettings.from_env()
    assert settings.part_bytes == 8 * 1024 * 1024 and settings.sweep_grace.total_seconds() == 7200
    assert settings.scratch_dir == tmp_path / "var" / "scratch"


def test_genmedia_asset_root_still_names_the_folder(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("GENMEDIA_ASSET_ROOT", str(tmp_path / "elsewhere"))
    assert open_store("image").root == tmp_path / "elsewhere"
    monkeypatch.setenv("GENMEDIA_ASSET_URL", (tmp_path / "elsewhere").as_uri())  # both, agreeing: fine
    assert open_store("image").root == tmp_path / "elsewhere"
    monkeypatch.setenv("GENMEDIA_ASSET_URL", (tmp_path / "third").as_uri())
    with pytest.raises(ConfigError, match="GENMEDIA_ASSET_ROOT"):
        StoreSettings.from_env()


def test_an_s3_url_names_the_bucket_and_prefix(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("GENMEDIA_ASSET_URL", "s3://media-bucket/genmedia/prod/")
    monkeypatch.setenv("GENMEDIA_ASSET_PART_BYTES", str(16 * 1024 * 1024))
    store = open_store("video")
    assert isinstance(store, S3Store) and (store.bucket, store.prefix) == ("media-bucket", "genmedia/prod")
    assert store.uri("job/video.mp4") == "s3://media-bucket/genmedia/prod/job/video.mp4"
    assert store.part_bytes == 16 * 1024 * 1024 and store.url == "s3://media-bucket/genmedia/prod"
    monkeypatch.setenv("GENMEDIA_ASSET_URL", "s3://media-bucket")
    assert open_store("video").uri("job/video.mp4") == "s3://media-bucket/job/video.mp4"


@pytest.mark.parametrize(("name", "value"), [
    ("GENMEDIA_ASSET_URL", "var/assets"),
    ("GENMEDIA_ASSET_URL", "file://relative/path"),
    ("GENMEDIA_ASSET_URL", "https://bucket.s3.amazonaws.com/"),
    ("GENMEDIA_ASSET_URL", "s3://Not_A_Bucket/x"),
    ("GENMEDIA_ASSET_URL", "s3://bucket/a/../b"),
    ("GENMEDIA_ASSET_URL", "s3://bucket/a//b"),
    ("GENMEDIA_ASSET_URL", "s3://bucket/a?x=1"),
    ("GENMEDIA_ASSET_PART_BYTES", "1000"),
    ("GENMEDIA_ASSET_PART_BYTES", "five"),
    ("GENMEDIA_ASSET_SWEEP_GRACE_SECONDS", "-1"),
    ("GENMEDIA_ASSET_LINK_ENDPOINT_URL", "ftp://files.example.com"),
])
def test_a_value_that_cannot_be_used_names_its_variable(monkeypatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=name):
        StoreSettings.from_env()


def test_a_service_name_must_be_a_plain_word() -> None:
    with pytest.raises(ValueError, match="service name"):
        open_store("../video")


def test_the_image_and_video_services_write_to_the_store_the_api_reads(monkeypatch, tmp_path: Path) -> None:
    """Each service opens the store GENMEDIA_ASSET_URL names, under its own name (it sweeps only its own)."""
    from services.image import config as image_config
    from services.image import server as image_server
    from services.video import config as video_config
    from services.video import server as video_server

    monkeypatch.setenv("GENMEDIA_ASSET_URL", (tmp_path / "media").as_uri())
    for config, server, name in ((image_config, image_server, "image"), (video_config, video_server, "video")):
        servicer = server.build_registrations(config.Settings.from_env())[0].servicer
        assert servicer.store.root == open_store("orchestrator").root == tmp_path / "media"
        assert servicer.store.service == name
