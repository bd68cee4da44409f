"""Whole-network race: xpnet against PyTorch on LeNet-5, the CIFAR net and AlexNet-64.

For each network, in one process, on the same number of threads (``--threads``, 2 by
default: ``torch.set_num_threads``, xpnet's batch split and the BLAS pool behind NumPy),
float32, random data:

- a training step at batch 128: forward, softmax cross-entropy, backward, SGD step
  (momentum 0.9) -- ``train`` rows;
- inference at batch 256: eval mode, no graph (``xpnet.no_grad`` against
  ``torch.inference_mode``) -- ``infer`` rows.

Contestants: xpnet, PyTorch NCHW (as users run it) and PyTorch channels_last (model and
input converted with ``memory_format=torch.channels_last``). The torch networks are
built layer by layer from the xpnet one with the same weights. Rounds alternate between
the contestants (their order rotates each round) so that load from other processes on a
shared machine hits all of them alike; in its turn a contestant pauses (``--cooldown``,
so the other library's spinning pool threads park), makes untimed calls for ``--warm``
seconds (so idle vCPUs are awake again), then ``--inner`` timed calls (see :func:`race`
for why). Each cell is the median over rounds of
the per-turn medians, and ratio = xpnet images/s / PyTorch-NCHW images/s (>= 1: xpnet is
as fast or faster).

Peak memory (``--memory``): each framework's training step runs in its own fresh
subprocess (model, data and optimiser built, three warm-up steps), with glibc's
``MALLOC_MMAP_THRESHOLD_=131072`` so that both return freed blocks to the kernel alike;
the resident set size is read before the step, the kernel's peak (``VmHWM``) is reset
through ``/proc/self/clear_refs`` and read after one step. The row reports
peak - before (the step's own working memory: activations, gradients, temporaries);
for xpnet the NumPy allocations traced by ``tracemalloc`` over one step are shown too.

``--profile`` times every layer's forward and backward alone (batch 128, the layer's
input from the real forward, a random output gradient) for xpnet and PyTorch NCHW, to
show which op at which shape takes the time.

``--device cuda`` races both libraries on the GPU (xpnet on CuPy, PyTorch on CUDA), each
call ending with a device synchronisation so that the clock sees the work; the memory
and profile modes are CPU-only.

Run:
    python bench/bench_cnn.py                       # throughput, 7 rounds
    python bench/bench_cnn.py --device cuda         # the same race on the GPU
    python bench/bench_cnn.py --memory              # + peak memory of a training step
    python bench/bench_cnn.py --profile --models lenet5
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy

MODELS: dict[str, tuple[int, int, int]] = {
    "lenet5": (1, 28, 28),
    "cifar_convnet": (3, 32, 32),
    "alexnet_small": (3, 64, 64),
}


def build_xpnet(name: str) -> Any:
    """The xpnet network ``name`` of the zoo, float32, seed 0."""
    from xpnet.models.alexnet import alexnet_small
    from xpnet.models.cifar import cifar_convnet
    from xpnet.models.lenet import lenet5

    return {"lenet5": lenet5, "cifar_convnet": cifar_convnet,
            "alexnet_small": alexnet_small}[name](seed=0)


def to_torch(net: Any) -> Any:
    """A torch.nn.Sequential with the same layers and weights as xpnet Sequential ``net``."""
    import torch

    from xpnet import nn

    tnn = torch.nn
    simple = {nn.ReLU: tnn.ReLU, nn.Tanh: tnn.Tanh, nn.Sigmoid: tnn.Sigmoid,
              nn.Flatten: tnn.Flatten}
    layers = []
    for m in net:
        if isinstance(m, nn.Conv2d):
            t = tnn.Conv2d(m.in_channels, m.out_channels, m.kernel_size, m.stride, m.padding,
                           m.dilation, m.groups, bias=m.bias is not None)
        elif isinstance(m, nn.Linear):
            t = tnn.Linear(m.weight.shape[1], m.weight.shape[0], bias=m.bias is not None)
        elif isinstance(m, nn.MaxPool2d):
            t = tnn.MaxPool2d(m.kernel_size, m.stride, m.padding, ceil_mode=m.ceil_mode)
        elif isinstance(m, nn.AvgPool2d):
            t = tnn.AvgPool2d(m.kernel_size, m.stride, m.padding, ceil_mode=m.ceil_mode,
                              count_include_pad=m.count_include_pad)
        elif isinstance(m, nn.LocalResponseNorm):
            t = tnn.LocalResponseNorm(m.size, m.alpha, m.beta, m.k)
        elif isinstance(m, nn.Dropout):
            t = tnn.Dropout(m.p)
        else:
            t = simple[type(m)]()
        if isinstance(t, (tnn.Conv2d, tnn.Linear)):
            with torch.no_grad():
                t.weight.copy_(torch.from_numpy(numpy.asarray(m.weight.data)))
                if m.bias is not None:
                    t.bias.copy_(torch.from_numpy(numpy.asarray(m.bias.data)))
        layers.append(t)
    return tnn.Sequential(*layers)


def set_threads(n: int) -> None:
    """Give both libraries ``n`` threads: torch's pool, xpnet's batch split, NumPy's BLAS."""
    import torch
    from threadpoolctl import threadpool_limits

    from xpnet.cpu import set_num_threads, tune_allocator

    tune_allocator()  # as a training process runs (the CLI and Trainer make this call)
    torch.set_num_threads(n)
    set_num_threads(n)
    threadpool_limits(n, user_api="blas")


def data(shape: tuple[int, ...], batch: int, seed: int) -> tuple[numpy.ndarray, numpy.ndarray]:
    rng = numpy.random.default_rng(seed)
    return rng.standard_normal((batch, *shape), dtype=numpy.float32), rng.integers(0, 10, batch)


# ------------------------------------------------------------------ contestants
def _xpnet_sync(device: str) -> Callable[[], None]:
    """Waits for the GPU's queued work (a no-op on the CPU)."""
    if device == "cpu":
        return lambda: None
    import cupy  # noqa: PLC0415  (only with --device cuda)

    return cupy.cuda.runtime.deviceSynchronize


def xpnet_steps(name: str, train_batch: int, infer_batch: int,
                device: str = "cpu") -> dict[str, Callable]:
    """Closures running one training step and one inference batch of xpnet."""
    import xpnet
    from xpnet import backend, optim
    from xpnet import functions as F

    net = build_xpnet(name).to(device)
    opt = optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    x, y = (backend.to_device(a, device) for a in data(MODELS[name], train_batch, 1))
    xi = backend.to_device(data(MODELS[name], infer_batch, 2)[0], device)
    sync = _xpnet_sync(device)

    def train() -> None:
        net.train()
        opt.zero_grad()
        loss = F.softmax_cross_entropy(net(xpnet.Tensor(x)), y)
        loss.backward()
        opt.step()
        sync()

    def infer() -> None:
        net.eval()
        with xpnet.no_grad():
            net(xpnet.Tensor(xi))
        sync()

    return {"train": train, "infer": infer}


def torch_steps(name: str, train_batch: int, infer_batch: int,
                channels_last: bool, device: str = "cpu") -> dict[str, Callable]:
    """Closures running one training step and one inference batch of PyTorch."""
    import torch

    net = to_torch(build_xpnet(name))
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    net = net.to(device=device, memory_format=fmt)
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    x, y = data(MODELS[name], train_batch, 1)
    xi, _ = data(MODELS[name], infer_batch, 2)
    x = torch.from_numpy(x).to(device).contiguous(memory_format=fmt)
    xi = torch.from_numpy(xi).to(device).contiguous(memory_format=fmt)
    y = torch.from_numpy(y).to(device)
    sync = torch.cuda.synchronize if device != "cpu" else (lambda: None)

    def train() -> None:
        net.train()
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(net(x), y)
        loss.backward()
        opt.step()
        sync()

    def infer() -> None:
        net.eval()
        with torch.inference_mode():
            net(xi)
        sync()

    return {"train": train, "infer": infer}


def race(contestants: dict[str, Callable], rounds: int, warmup: int = 2, inner: int = 3,
         cooldown: float = 0.3, warm: float = 0.1) -> dict[str, float]:
    """Median seconds per call of each closure, over alternating, rotating rounds.

    A contestant's turn in a round: sleep ``cooldown`` seconds, untimed calls for
    ``warm`` seconds (at least one), then ``inner`` timed calls whose median is the
    round's value. Both precautions matter on this 2-core VM: the library that just ran
    leaves its pool threads spinning for a while (libgomp's and OpenBLAS's wait
    policies), so without the pause the first calls after a switch pay 4-8 ms each that
    neither library pays when run alone (measured: PyTorch's LeNet inference fell from
    21,000 to 10,600 images/s right after xpnet's turn; with a 0.2 s pause it matched a
    solo run). And after the pause an idle vCPU stays slow to wake for tens of
    milliseconds: a library whose threads block between parallel regions (xpnet's)
    then runs at one core's speed (LeNet training after a 0.3 s pause: 15.8 ms a step
    for the first four steps, 10.9 ms after 50 ms of work, the same as never pausing),
    while one whose threads spin (PyTorch's OpenMP) does not notice; ``warm`` gives both
    the state they have in a real training loop.
    """
    names = list(contestants)
    for name in names:
        for _ in range(warmup):
            contestants[name]()
    times: dict[str, list[float]] = {n: [] for n in names}
    for r in range(rounds):
        for name in names[r % len(names):] + names[:r % len(names)]:
            fn = contestants[name]
            time.sleep(cooldown)
            start = time.perf_counter()
            fn()
            while time.perf_counter() - start < warm:
                fn()
            calls = []
            for _ in range(inner):
                t = time.perf_counter()
                fn()
                calls.append(time.perf_counter() - t)
            times[name].append(statistics.median(calls))
    return {n: statistics.median(t) for n, t in times.items()}


def throughput(models: list[str], rounds: int, inner: int, cooldown: float,
               train_batch: int, infer_batch: int, warm: float = 0.1,
               device: str = "cpu") -> list:
    rows = []
    for name in models:
        players = {"xpnet": xpnet_steps(name, train_batch, infer_batch, device),
                   "torch": torch_steps(name, train_batch, infer_batch, False, device),
                   "torch_cl": torch_steps(name, train_batch, infer_batch, True, device)}
        for mode, batch in (("train", train_batch), ("infer", infer_batch)):
            med = race({p: steps[mode] for p, steps in players.items()}, rounds, inner=inner,
                       cooldown=cooldown, warm=warm)
            ips = {p: batch / s for p, s in med.items()}
            rows.append((name, mode, batch, ips))
            print(f"{name:14s} {mode:5s} b{batch:<4d} xpnet {ips['xpnet']:8.0f}  "
                  f"torch {ips['torch']:8.0f}  torch_cl {ips['torch_cl']:8.0f}  "
                  f"ratio {ips['xpnet'] / ips['torch']:.2f}  (load {os.getloadavg()[0]:.2f})",
                  flush=True)
    return rows


# ----------------------------------------------------------------------- memory
def _proc_status() -> dict[str, int]:
    """VmRSS and VmHWM of this process in bytes."""
    out = {}
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(("VmRSS:", "VmHWM:")):
                key, value = line.split(":")
                out[key] = int(value.split()[0]) * 1024
    return out


def memory_child(framework: str, name: str, batch: int, threads: int) -> None:
    """Measure one training step's peak memory in this (fresh) process; print JSON."""
    import gc
    import tracemalloc

    set_threads(threads)
    # glibc's thresholds held at 128 KiB for both frameworks (undoing set_threads's
    # training setting): with freed blocks kept in the heap the resident size would not
    # fall back after a step, and VmHWM would not show the step's own peak.
    import xpnet

    xpnet.cpu.tune_allocator(keep_freed=False)
    if framework == "xpnet":
        step = xpnet_steps(name, batch, 1)["train"]
    else:
        step = torch_steps(name, batch, 1, framework == "torch_cl")["train"]
    for _ in range(3):
        step()
    gc.collect()
    before = _proc_status()["VmRSS"]
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # reset VmHWM to the current RSS
    step()
    peak = _proc_status()["VmHWM"]
    result = {"before": before, "peak": peak, "step": peak - before}
    if framework == "xpnet":
        gc.collect()
        tracemalloc.start()
        step()
        result["traced"] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    print(json.dumps(result))


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}" if b > 0 else "n/a (PyTorch's step did not raise its peak)"


def memory(models: list[str], batch: int, threads: int) -> list:
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "131072"}
    rows = []
    for name in models:
        got = {}
        for framework in ("xpnet", "torch", "torch_cl"):
            cmd = [sys.executable, __file__, "--memory-child", framework, "--models", name,
                   "--train-batch", str(batch), "--threads", str(threads)]
            out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
            got[framework] = json.loads(out.stdout.strip().splitlines()[-1])
        mib = {f: r["step"] / 2**20 for f, r in got.items()}
        traced = got["xpnet"]["traced"] / 2**20
        rows.append((name, batch, mib, traced))
        print(f"{name:14s} train b{batch:<4d} peak step memory MiB: xpnet {mib['xpnet']:7.1f} "
              f"(tracemalloc {traced:.1f})  torch {mib['torch']:7.1f}  torch_cl "
              f"{mib['torch_cl']:7.1f}  xpnet/torch {_ratio(mib['xpnet'], mib['torch'])}",
              flush=True)
    return rows


# ---------------------------------------------------------------------- profile
def _layer_calls(layer: Any, x: Any, first: bool, grad_of: Callable) -> tuple:
    """Forward and backward closures of one layer on input ``x``, and its output.

    ``x`` is the previous layer's output as that framework made it (xpnet may hand a
    channels-last view from one op to the next), so each op sees the layout it would see
    in the network. ``grad_of(y)`` makes the output gradient given to backward.
    """
    state: dict[str, Any] = {}
    if hasattr(x, "requires_grad_"):  # a torch tensor

        def forward() -> None:
            state["x"] = x.detach().requires_grad_(not first)
            state["y"] = layer(state["x"])
    else:
        import xpnet

        def forward() -> None:
            state["x"] = xpnet.Tensor(x, requires_grad=not first)
            state["y"] = layer(state["x"])

    forward()
    g = grad_of(state["y"])

    def backward() -> None:
        for p in layer.parameters():
            p.grad = None
        state["y"].backward(g, retain_graph=True)

    return forward, backward, state["y"]


def profile(models: list[str], rounds: int, inner: int, batch: int) -> None:
    import torch

    rng = numpy.random.default_rng(3)

    def xp_grad(y: Any) -> numpy.ndarray:
        g = numpy.empty_like(y.data)  # in y's memory layout, as the next layer's backward
        g[...] = rng.standard_normal(y.shape, dtype=numpy.float32)  # would hand it back
        return g

    def pt_grad(y: Any) -> Any:
        return torch.from_numpy(rng.standard_normal(tuple(y.shape), dtype=numpy.float32))

    for name in models:
        net = build_xpnet(name)
        tnet = to_torch(net)
        x, _ = data(MODELS[name], batch, 1)
        tx = torch.from_numpy(x.copy())
        print(f"\n{name}, batch {batch}: milliseconds per call, "
              f"ratio = torch / xpnet")
        print(f"{'layer':28s} {'output':>16s} {'xp fwd':>8s} {'xp bwd':>8s} {'pt fwd':>8s} "
              f"{'pt bwd':>8s} {'fwd r':>6s} {'bwd r':>6s}")
        totals = numpy.zeros(4)
        for i, (layer, tlayer) in enumerate(zip(net, tnet, strict=True)):
            xf, xb, y = _layer_calls(layer, x, i == 0, xp_grad)
            tf, tb, ty = _layer_calls(tlayer, tx, i == 0, pt_grad)
            med = race({"xf": xf, "xb": xb, "tf": tf, "tb": tb}, rounds, warmup=1, inner=inner,
                       cooldown=0.15)
            ms = numpy.array([med[k] for k in ("xf", "xb", "tf", "tb")]) * 1e3
            totals += ms
            desc = f"{i} {type(layer).__name__}"
            print(f"{desc:28s} {str(y.shape[1:]):>16s} {ms[0]:8.2f} {ms[1]:8.2f} {ms[2]:8.2f} "
                  f"{ms[3]:8.2f} {ms[2] / ms[0]:6.2f} {ms[3] / max(ms[1], 1e-9):6.2f}")
            x, tx = y.data, ty.detach()
        print(f"{'total':28s} {'':>16s} {totals[0]:8.2f} {totals[1]:8.2f} {totals[2]:8.2f} "
              f"{totals[3]:8.2f} {totals[2] / totals[0]:6.2f} {totals[3] / totals[1]:6.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", default=",".join(MODELS),
                        help=f"comma-separated, from {list(MODELS)}")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--inner", type=int, default=3,
                        help="timed calls per contestant per round (after the warm calls)")
    parser.add_argument("--cooldown", type=float, default=0.3,
                        help="seconds of pause before each turn")
    parser.add_argument("--warm", type=float, default=0.1,
                        help="seconds of untimed calls after the pause, before the timed ones")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--train-batch", type=int, default=128)
    parser.add_argument("--infer-batch", type=int, default=256)
    parser.add_argument("--memory", action="store_true", help="also peak memory of a step")
    parser.add_argument("--memory-only", action="store_true", help="only peak memory")
    parser.add_argument("--profile", action="store_true", help="per-layer timings instead")
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu",
                        help="where both libraries run (throughput only)")
    parser.add_argument("--memory-child", choices=["xpnet", "torch", "torch_cl"],
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    models = args.models.split(",")
    unknown = [m for m in models if m not in MODELS]
    if unknown:
        parser.error(f"unknown models {unknown}; choose from {list(MODELS)}")
    if args.memory_child:
        memory_child(args.memory_child, models[0], args.train_batch, args.threads)
        return
    set_threads(args.threads)
    import torch

    if args.device == "cuda":
        from xpnet import backend  # noqa: PLC0415

        if not (backend.cuda_available() and torch.cuda.is_available()):
            parser.error("--device cuda needs a GPU that both CuPy and PyTorch can use")
        if args.memory or args.memory_only or args.profile:
            parser.error("--memory and --profile measure the CPU; leave out --device cuda")
    where = (f"{args.threads} threads" if args.device == "cpu"
             else f"GPU {torch.cuda.get_device_name()}")
    print(f"xpnet vs torch {torch.__version__}, numpy {numpy.__version__}, {where}, "
          f"float32; median over {args.rounds} alternating rounds of {args.inner} calls")
    if args.profile:
        profile(models, args.rounds, args.inner, args.train_batch)
        return
    if not args.memory_only:
        throughput(models, args.rounds, args.inner, args.cooldown, args.train_batch,
                   args.infer_batch, args.warm, args.device)
    if args.memory or args.memory_only:
        memory(models, args.train_batch, args.threads)


if __name__ == "__main__":
    main()
