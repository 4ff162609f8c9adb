"""The model zoo: the registered DeepLab models, their metadata, and fetching them.

The module is the core's model catalog (`core.model.ModelCatalog`): `deeplab_widgets/__init__.py` installs it,
so a zoo id names a model wherever a model is expected.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from . import registry

#: The registry's `output` values: per-class scores, or class ids from an ArgMax inside the model.
ZooOutput = Literal["logits", "class_ids"]
#: The registry's `resize` values (the core's `ResizeMode`s; mypy checks they agree where the zoo is installed).
ZooResize = Literal["stretch", "pad"]

#: The label sets in words: the short name the model list shows, and what the set covers (for status lines).
DATASETS = {
    "pascal_voc": ("Pascal VOC", "Pascal VOC (20 everyday object classes)"),
    "cityscapes": ("Cityscapes", "Cityscapes (street scenes)"),
    "ade20k": ("ADE20K", "ADE20K (150 scene classes)"),
    "ade20k-32": ("ADE20K", "ADE20K (31 scene classes and 'other')"),
}


@dataclass(frozen=True)
class ZooModel:
    """A registered model: its file, provenance and what it expects and returns.

    Attributes:
        name: The zoo id, e.g. `deeplabv3-starter`.
        file: The file name in the cache and in mirror folders.
        url: The official download URL.
        sha256: The hex SHA-256 of the file.
        description: One line for listings.
        license: The model's licence.
        backbone: The feature extractor, e.g. `MobileNetV2 (depth 0.5)`.
        dataset: The label set it predicts: `pascal_voc`, `cityscapes` or `ade20k`.
        input_size: The side of its square input, in pixels.
        input_dtype: `float32` or `uint8`.
        output: `"logits"` (per-class scores) or `"class_ids"` (an ArgMax inside the model).
        source: Where the model was published.
        resize: The resize mode measured best for this model, `"stretch"` or `"pad"`.
    """

    name: str
    file: str
    url: str
    sha256: str
    description: str
    license: str
    backbone: str
    dataset: str
    input_size: int
    input_dtype: str
    output: ZooOutput
    source: str
    resize: ZooResize  # the resize mode measured best for this model
    sample: str = ""  # a sample photo whose content this model knows, suggested when it is picked

    @property
    def title(self) -> str:
        """The model in a few plain words for lists: `deeplabv3-mnv2-voc (Pascal VOC, 513 px, 8-bit)`."""
        dataset = DATASETS.get(self.dataset, (self.dataset, ""))[0]
        bits = ", 8-bit" if self.input_dtype in ("uint8", "int8") else ""
        return f"{self.name} ({dataset}, {self.input_size} px{bits})"

    def fetch(self, progress: bool = True) -> Path:
        """A verified local copy of the model file (mirror, cache, or download).

        Raises:
            ChecksumError: A copy has the wrong SHA-256.
            DownloadError: The file is not available offline and could not be downloaded.
        """
        return registry.fetch(registry.lookup("models", self.name), progress=progress)


def list_models() -> list[ZooModel]:
    """Every model in the zoo, in registry order."""
    return [model_info(name) for name in registry.assets("models")]


def model_names() -> list[str]:
    """The zoo's model ids."""
    return list(registry.assets("models"))


def model_info(name: str) -> ZooModel:
    """One zoo model by id.

    Raises:
        ModelNotFoundError: `name` is not a zoo id; the message lists the known ones.
    """
    asset = registry.lookup("models", name)
    return ZooModel(
        name=asset.name,
        file=asset.file,
        url=asset.url,
        sha256=asset.sha256,
        description=asset.description,
        license=asset.license,
        **{
            k: asset.extra[k]
            for k in ("backbone", "dataset", "input_size", "input_dtype", "output", "source", "resize")
        },
        sample=str(asset.extra.get("sample", "")),
    )


def fetch_model(name: str, progress: bool = True) -> Path:
    """A verified local path of zoo model `name`, downloading it if no mirror or cache holds it.

    Raises:
        ModelNotFoundError: `name` is not a zoo id.
        ChecksumError: A copy has the wrong SHA-256.
        DownloadError: The file is not available offline and could not be downloaded.
    """
    return model_info(name).fetch(progress=progress)
