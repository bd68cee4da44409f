#!/usr/bin/env bash
# GPU validation, for a machine with a CUDA GPU, CuPy and PyTorch (CUDA) already there:
# installs nothing. Runs the device parity suite (tests/gpu: every op, LeNet's gradients,
# the optimisers, fit, pre-training and saliency on CuPy against the CPU) and the GPU race
# (bench/bench_cnn.py --device cuda), and writes what they print under $OUT (default
# ./device_out): env.txt, tests.txt, bench_cnn_cuda.txt.
#
#   bash scripts/device_check.sh
set -u
out=${OUT:-device_out}
mkdir -p "$out"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"  # this checkout, not installed
{
    nvidia-smi || true
    python -c "import numpy, cupy, torch; print('numpy', numpy.__version__, 'cupy',
cupy.__version__, 'torch', torch.__version__, 'torch cuda', torch.cuda.is_available())"
    python -c "from xpnet import backend; print('xpnet sees CUDA:', backend.cuda_available())"
} > "$out/env.txt" 2>&1
timeout 300 python -m pytest -q -p no:cacheprovider -rs tests/gpu tests/test_backend.py \
    > "$out/tests.txt" 2>&1
echo "tests rc $?" >> "$out/tests.txt"
timeout 240 python bench/bench_cnn.py --device cuda --rounds 5 --cooldown 0.1 \
    > "$out/bench_cnn_cuda.txt" 2>&1
echo "bench rc $?" >> "$out/bench_cnn_cuda.txt"
tail -n 4 "$out"/env.txt "$out"/tests.txt "$out"/bench_cnn_cuda.txt
