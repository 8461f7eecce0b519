"""The CustomResourceDefinitions in `crds/`, loaded once (the chart and the tests use them too)."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml

CRD_DIR = Path(__file__).resolve().parent.parent / "crds"


@cache
def crd(kind: str) -> dict[str, Any]:
    """The CRD manifest of `kind` (Campaign or Experiment)."""
    path = CRD_DIR / f"{kind.lower()}.yaml"
    return dict(yaml.safe_load(path.read_text()))


def schema(kind: str) -> dict[str, Any]:
    """The openAPIV3Schema the API server validates `kind` with."""
    return dict(crd(kind)["spec"]["versions"][0]["schema"]["openAPIV3Schema"])
