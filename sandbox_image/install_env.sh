#!/bin/sh
# Install AIVC's pinned environment into an existing virtualenv, exactly as the images do:
# the lock file with --no-deps (so the file is the whole environment), then the package
# itself from SOURCE_DIR, then `pip check` (a missing or conflicting pin fails here).
# Both Dockerfiles run it, and so does tests/integration/test_images.py, so the test
# installs what the images install. Extra pip options (e.g. `-c FILE`) go last.
# usage: install_env.sh VENV REQUIREMENTS SOURCE_DIR [PIP_OPTION...]
set -eu
venv=$1
requirements=$2
source_dir=$3
shift 3
"$venv/bin/pip" install --no-cache-dir --disable-pip-version-check --no-deps \
    --only-binary=:all: -r "$requirements" "$@"
"$venv/bin/pip" install --no-cache-dir --disable-pip-version-check --no-deps "$source_dir"
"$venv/bin/pip" check
