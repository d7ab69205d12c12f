"""The media stores: the local directory and an S3-compatible bucket keep the same promises."""

from __future__ import annotations

import hashlib
import logging

import pytest

from fspbx_sms.config import load_settings
from fspbx_sms.core.media import MediaLibrary
from fspbx_sms.core.media_store import LocalMediaStore, MediaStoreError, S3MediaStore, build_media_store
from tests.dashboard_world import PNG
from tests.service_process import free_port


@pytest.fixture(params=["local", "s3"])
def store(request, tmp_path):
    """Each store, as the settings build it."""
    if request.param == "local":
        return build_media_store(load_settings({}, media_dir=str(tmp_path / "media")))
    bucket = request.getfixturevalue("s3_bucket")
    return build_media_store(load_settings(bucket.env()))


def test_settings_choose_the_store(tmp_path, s3_bucket):
    """``local`` is the default; ``s3`` points at the configured bucket and prefix."""
    assert isinstance(build_media_store(load_settings({})), LocalMediaStore)
    s3 = build_media_store(load_settings(s3_bucket.env(prefix="site-a/")))
    assert isinstance(s3, S3MediaStore)
    assert (s3.bucket, s3.prefix) == (s3_bucket.name, "site-a/")


def test_a_stored_object_reads_back_and_deletes(store):
    """Save, exists, load, delete; a missing object is None and deleting it twice is fine."""
    assert store.exists("ab/abc") is False
    assert store.load("ab/abc") is None
    store.save("ab/abc", PNG, "image/png")
    assert store.exists("ab/abc") is True
    assert store.load("ab/abc") == PNG
    store.delete("ab/abc")
    store.delete("ab/abc")
    assert store.load("ab/abc") is None


def test_the_same_picture_twice_is_one_object(s3_bucket):
    """Media are keyed by SHA-256 under the prefix: two uploads of one picture make one object."""
    library = MediaLibrary(build_media_store(load_settings(s3_bucket.env())), b"k" * 32, ttl_seconds=60)
    first = library.store(PNG, "image/png")
    second = library.store(PNG, "image/png; charset=binary")
    digest = hashlib.sha256(PNG).hexdigest()
    assert first == second
    assert first.storage_key == f"{digest[:2]}/{digest}"
    assert s3_bucket.keys() == [f"media/{first.storage_key}"]
    assert s3_bucket.read(f"media/{first.storage_key}") == PNG
    assert library.read(first.storage_key) == PNG
    library.delete(first.storage_key)
    assert s3_bucket.keys() == []


def test_an_unreachable_endpoint_is_a_store_error_without_secrets(caplog):
    """Nothing listens at the endpoint: every operation raises MediaStoreError naming the bucket, not the key."""
    settings = load_settings({
        "FSPBX_SMS_MEDIA_STORAGE": "s3", "FSPBX_SMS_S3_BUCKET": "fspbx-sms-offline",
        "FSPBX_SMS_S3_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}",
        "FSPBX_SMS_S3_ACCESS_KEY": "AKIA-test", "FSPBX_SMS_S3_SECRET_KEY": "offline-secret-4711",
    })
    store = build_media_store(settings)
    caplog.set_level(logging.DEBUG)
    for action in (lambda: store.save("ab/abc", PNG, "image/png"), lambda: store.load("ab/abc"),
                   lambda: store.exists("ab/abc"), lambda: store.delete("ab/abc")):
        with pytest.raises(MediaStoreError) as caught:
            action()
        assert "fspbx-sms-offline" in str(caught.value)
        assert "offline-secret-4711" not in str(caught.value)
    assert "offline-secret-4711" not in caplog.text


def test_a_missing_bucket_refuses_writes(s3_server):
    """A bucket that does not exist (yet): writes fail with the store error the jobs retry on."""
    bucket = s3_server.bucket(create=False)
    store = build_media_store(load_settings(bucket.env()))
    with pytest.raises(MediaStoreError, match="NoSuchBucket"):
        store.save("ab/abc", PNG, "image/png")
    bucket.create()
    store.save("ab/abc", PNG, "image/png")
    assert bucket.keys() == ["media/ab/abc"]


def test_local_store_never_leaves_a_partial_file(tmp_path):
    """Writes go through a temporary name: only the finished file appears under its key."""
    store = LocalMediaStore(tmp_path / "media")
    store.save("ab/abc", PNG, "image/png")
    assert sorted(p.name for p in (tmp_path / "media" / "ab").iterdir()) == ["abc"]


def test_local_store_unwritable_directory_is_a_store_error(tmp_path):
    """A media directory that cannot be created is a MediaStoreError, like an S3 outage."""
    (tmp_path / "file").write_bytes(b"not a directory")
    with pytest.raises(MediaStoreError, match="cannot write media"):
        LocalMediaStore(tmp_path / "file").save("ab/abc", PNG, "image/png")


def test_check_reports_whether_media_can_be_stored(tmp_path, s3_server):
    """The health check's question: a writable directory or a reachable bucket is fine, else a store error."""
    LocalMediaStore(tmp_path / "not-yet" / "media").check()
    (tmp_path / "file").write_bytes(b"not a directory")
    with pytest.raises(MediaStoreError, match="not writable"):
        LocalMediaStore(tmp_path / "file" / "media").check()
    bucket = s3_server.bucket(create=False)
    store = build_media_store(load_settings(bucket.env()))
    with pytest.raises(MediaStoreError, match=bucket.name):
        store.check()
    bucket.create()
    store.check()
