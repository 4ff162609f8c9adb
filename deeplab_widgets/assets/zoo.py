"""The model zoo: the registered DeepLab models, their metadata, and fetching them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from . import registry


@dataclass(frozen=True)
class ZooModel:
    """A registered model: its file, provenance and what it expects and returns."""

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
    output: str  # "logits" or "class_ids"
    source: str
    resize: str  # the resize mode measured best for this model
    sample: str = ""  # a sample photo whose content this model knows, suggested when it is picked

    def fetch(self, progress: bool = True) -> Path:
        """A verified local copy of the model file (mirror, cache, or download)."""
        return registry.fetch(registry.lookup("models", self.name), progress=progress)


def list_models() -> list[ZooModel]:
    """Every model in the zoo, in registry order."""
    return [model_info(name) for name in registry.assets("models")]


def model_names() -> list[str]:
    """The zoo's model ids."""
    return list(registry.assets("models"))


def model_info(name: str) -> ZooModel:
    """One zoo model by id; an unknown id raises `ModelNotFoundError` listing the known ones."""
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
    """A verified local path of zoo model `name`."""
    return model_info(name).fetch(progress=progress)
