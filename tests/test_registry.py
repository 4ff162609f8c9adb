"""The registry: verified mirror and cache, clear errors for every bad model input."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest

from deeplab_widgets import (
    BackendError,
    ChecksumError,
    DelegateError,
    DownloadError,
    ModelFormatError,
    ModelNotFoundError,
    OptionsError,
    RuntimeOptions,
    SampleNotFoundError,
    Segmenter,
    list_models,
    model_info,
)
from deeplab_widgets.assets import registry
from deeplab_widgets.assets.samples import list_samples, sample


def test_registry_matches_the_shared_files(shared) -> None:
    sums = {}
    for folder in ("models", "images", "video"):
        for line in (shared / folder / "SHA256SUMS").read_text().splitlines():
            digest, name = line.split()
            sums[name] = digest
    for section in ("models", "samples"):
        for asset in registry.assets(section).values():
            assert sums[asset.file] == asset.sha256, asset.name
            assert asset.url.startswith("https://")


def test_every_labelled_pair_is_recorded_at_a_pinned_commit_with_the_mirrors_hash(shared) -> None:
    pinned = re.compile(r"^https://raw\.githubusercontent\.com/[\w.-]+/[\w.-]+/[0-9a-f]{40}/[\w./-]+$")
    voc, ade = registry.pairs("voc"), registry.pairs("ade20k")
    assert (len(voc), len(ade)) == (15, 3)
    assert sum(p.mask.convert == "voc-colours" for p in voc) == 14  # VainF's targets are RGB colour maps
    for pair in voc + ade:
        for asset in (pair.image, pair.mask):
            assert pinned.match(asset.url), asset.url
            mirrored = shared / "eval" / asset.file
            if asset.convert:  # a converted mask is recorded by its decoded pixels
                assert registry.pixels_sha256(mirrored) == asset.sha256
            else:
                assert hashlib.sha256(mirrored.read_bytes()).hexdigest() == asset.sha256
        if pair.mask.convert:  # both hashes: the published file's and the converted one's
            assert pair.mask.convert == "voc-colours" and pair.mask.download_sha256 not in ("", pair.mask.sha256)
        else:
            assert pair.mask.download_sha256 == ""


def test_zoo_has_the_six_models() -> None:
    names = [m.name for m in list_models()]
    assert names == [
        "deeplabv3-starter",
        "deeplabv3-mnv2-dm05-voc",
        "deeplabv3-mnv2-voc",
        "deeplab-edgetpu-slim-cityscapes",
        "deeplabv3plus-mnv2-ade20k",
        "deeplabv3plus-mnv2-ade20k-int8",
    ]
    assert model_info("deeplabv3plus-mnv2-ade20k-int8").dataset == "ade20k-32"
    assert model_info("deeplab-edgetpu-slim-cityscapes").dataset == "cityscapes"
    assert {s.name for s in list_samples()} >= {
        "cat",
        "pets",
        "bird",
        "parrot",
        "grace_hopper",
        "kite_and_cold",
        "cityscapes",
    }


def test_unknown_model_lists_the_known_ones() -> None:
    with pytest.raises(
        ModelNotFoundError, match="unknown model 'deeplab-v9'; known: deeplabv3-starter, deeplabv3-mnv2-dm05-voc"
    ):
        Segmenter("deeplab-v9")
    with pytest.raises(SampleNotFoundError, match="unknown sample 'dragon'; known: cat, pets"):
        sample("dragon")


def test_missing_model_file(tmp_path) -> None:
    with pytest.raises(ModelNotFoundError, match="model file not found: .*missing.tflite"):
        Segmenter(str(tmp_path / "missing.tflite"))


def test_non_tflite_file(tmp_path) -> None:
    path = tmp_path / "notes.tflite"
    path.write_text("definitely not a flatbuffer")
    with pytest.raises(ModelFormatError, match="notes.tflite is not a TFLite model"):
        Segmenter(path)


def test_truncated_tflite(shared) -> None:
    content = (shared / "models" / "lite-model_deeplabv3_1_metadata_2.tflite").read_bytes()
    with pytest.raises(ModelFormatError) as refused:
        Segmenter.from_file(content[: len(content) // 3])
    assert (
        str(refused.value)
        == "the model could not be loaded by the TFLite interpreter: the file is damaged or cut short"
    )


def corrupt_copy(folder: Path, asset: registry.Asset) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / asset.file
    path.write_bytes(b"TFL3 but not the real weights")
    return path


def test_checksum_mismatch_in_mirror_is_not_used_nor_replaced(tmp_path, monkeypatch, shared) -> None:
    asset = registry.lookup("models", "deeplabv3-starter")
    bad = corrupt_copy(tmp_path / "bad", asset)
    # The good copy in a later mirror must not silently stand in for the bad one.
    monkeypatch.setenv(registry.MIRROR_ENV, f"{bad.parent}:{shared / 'models'}")
    with pytest.raises(ChecksumError, match=r"mirror file .*lite-model_deeplabv3_1_metadata_2.tflite has SHA-256"):
        Segmenter("deeplabv3-starter")
    assert bad.read_bytes() == b"TFL3 but not the real weights"


def test_checksum_mismatch_in_cache(tmp_path, monkeypatch) -> None:
    asset = registry.lookup("samples", "cat")
    bad = corrupt_copy(tmp_path / "cache", asset)
    monkeypatch.setenv(registry.MIRROR_ENV, "")
    monkeypatch.setenv(registry.CACHE_ENV, str(bad.parent))
    with pytest.raises(ChecksumError, match=r"cached file .*cat.bmp has SHA-256 .* expected 34f235786382"):
        registry.fetch(asset)
    assert bad.read_bytes() == b"TFL3 but not the real weights"


def test_mirror_file_is_used_and_verified(shared) -> None:
    path = registry.fetch(registry.lookup("models", "deeplabv3-mnv2-dm05-voc"))
    assert path.parent == shared / "models"
    assert hashlib.sha256(path.read_bytes()).hexdigest() == model_info("deeplabv3-mnv2-dm05-voc").sha256


def test_download_failure_says_how_to_work_offline(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv(registry.MIRROR_ENV, "")
    monkeypatch.setenv(registry.CACHE_ENV, str(tmp_path))
    asset = registry.Asset("offline", "offline.tflite", "http://127.0.0.1:9/offline.tflite", "0" * 64)
    with pytest.raises(DownloadError, match=r"could not download 'offline' .* put offline.tflite in a folder named by"):
        registry.fetch(asset, progress=False)
    assert not (tmp_path / "offline.tflite").exists()


def test_unknown_backend() -> None:
    with pytest.raises(BackendError, match="unknown backend 'tensorflow'; choose one of: auto, litert, tflite-runtime"):
        RuntimeOptions(backend="tensorflow")


def test_thread_count_out_of_range() -> None:
    with pytest.raises(OptionsError, match="num_threads must be between 1 and"):
        RuntimeOptions(num_threads=0)
    with pytest.raises(OptionsError, match="num_threads must be between 1 and"):
        RuntimeOptions(num_threads=10_000)


@pytest.mark.filterwarnings("error::pytest.PytestUnraisableExceptionWarning")  # LiteRT's Delegate.__del__ noise
def test_delegate_that_does_not_exist(starter) -> None:
    options = RuntimeOptions(delegate="/nonexistent/libedgetpu.so.1")
    with pytest.raises(DelegateError, match="could not load delegate '/nonexistent/libedgetpu.so.1': "):
        starter.with_options(options).segment(registry.fetch(registry.lookup("samples", "cat")))


def test_sample_names_resolve_one_way(tmp_path, monkeypatch) -> None:
    from deeplab_widgets.workflows.samples import resolve_image, sample_path

    assert resolve_image("cat") == sample_path("cat")
    assert resolve_image("cityscapes_mask") == "cityscapes_mask"  # a mask is not a photo to segment
    assert resolve_image(b"bytes") == b"bytes"
    monkeypatch.chdir(tmp_path)
    (tmp_path / "cat").write_bytes(b"a file named like a sample")
    assert resolve_image("cat") == "cat"  # an existing file wins over the sample name
