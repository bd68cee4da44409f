"""Whole-network race: xpnet against PyTorch at its better layout, training and inference.

For each network (``--models``, from :data:`nets.CONVNETS`: the zoo's LeNet-5, CIFAR net
and AlexNet-64, Caffe's LeNet widths, narrower and wider variants) and each batch size
(``--batches``, 1, 32, 128 and 256 by default), in one process, on the same number of
threads (``--threads``, 2 by default: ``torch.set_num_threads``, xpnet's batch split and
the BLAS pool behind NumPy), float32, random data:

- ``train`` rows: a training step (forward, softmax cross-entropy, backward, SGD with
  momentum 0.9);
- ``infer`` rows: inference, eval mode, no graph (``xpnet.no_grad`` against
  ``torch.inference_mode``).

Contestants: xpnet, PyTorch NCHW and PyTorch channels_last (model and input converted
with ``memory_format=torch.channels_last``); the torch networks are built layer by layer
from the xpnet one with the same weights. Each row prints the images/s of the three,
the ratio xpnet / the better PyTorch layout (>= 1: xpnet is as fast or faster), xpnet's
GFLOP/s (FLOPs from ``xpnet.models.summary``, :func:`nets.flops`) and its fraction of
this machine's fp32 peak (``bench/peak.py``, measured at the start on as many threads).

How the race is run (:func:`race`): rounds alternate between the contestants, their
order rotating; in its turn a contestant pauses (``--cooldown``, so the other library's
spinning pool threads park), makes untimed calls for ``--warm`` seconds (so idle vCPUs
are awake again), then timed calls (at least ``--inner`` and ``--timed`` seconds) whose
median is the turn's value; a cell is the median over rounds. On a shared machine the
other processes' CPU time is read from ``/proc/stat`` during each turn: a turn in which
they took more than ``--quiet`` of the machine is run again (up to ``--retries``
times), and each row reports the median share they took ("others").

Peak memory (``--memory``): each framework's training step runs in its own fresh
subprocess (model, data and optimiser built, three warm-up steps), with glibc's
``MALLOC_MMAP_THRESHOLD_=131072`` so that both return freed blocks to the kernel alike;
the resident set size is read before the step, the kernel's peak (``VmHWM``) is reset
through ``/proc/self/clear_refs`` and read after one step. The row reports
peak - before (the step's own working memory: activations, gradients, temporaries);
for xpnet the NumPy allocations traced by ``tracemalloc`` over one step are shown too.

``--profile`` times every layer's forward and backward alone (the layer's input from the
real forward, a random output gradient in the layout the network hands over) for xpnet
and both PyTorch layouts; ``--torch-profiler`` prints PyTorch's own profiler table
(``torch.profiler``, self CPU time per op) for one training step of each layout.

``--device cuda`` races both libraries on the GPU (xpnet on CuPy, PyTorch on CUDA), each
call ending with a device synchronisation so that the clock sees the work; the memory
and profile modes are CPU-only.

Run:
    python bench/bench_cnn.py                          # every network, batches 1-256
    python bench/bench_cnn.py --models lenet_caffe --batches 128
    python bench/bench_cnn.py --sweeps 3               # three whole sweeps: each row's
                                                       # median ratio and every sweep's
    python bench/bench_cnn.py --memory-only            # peak memory of a training step
    python bench/bench_cnn.py --profile --models lenet_caffe
    python bench/bench_cnn.py --device cuda --models lenet5,cifar_convnet
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
from pathlib import Path
from typing import Any

import numpy

sys.path.insert(0, str(Path(__file__).resolve().parent))

from nets import CONVNETS, build_xpnet, flops, to_torch  # noqa: E402

MODELS = CONVNETS  # name -> input shape (the other benchmarks import it from here)
__all__ = ["MODELS", "build_xpnet", "data", "race", "set_threads", "to_torch"]


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
        if not net.training:  # the mode switched once per race, not per call
            net.train()
        opt.zero_grad()
        loss = F.softmax_cross_entropy(net(xpnet.Tensor(x)), y)
        loss.backward()
        opt.step()
        sync()

    def infer() -> None:
        if net.training:
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
        if not net.training:  # the mode switched once per race, not per call
            net.train()
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(net(x), y)
        loss.backward()
        opt.step()
        sync()

    def infer() -> None:
        if net.training:
            net.eval()
        with torch.inference_mode():
            net(xi)
        sync()

    return {"train": train, "infer": infer}


# ------------------------------------------------------------------------- race
class Others:
    """CPU time taken by other processes, from ``/proc/stat`` and this process's times.

    ``share()`` after ``start()``: the other processes' busy CPU time (all CPUs' busy
    time, steal included, minus this process's user + system time) over the wall time
    times the CPU count: 0 on an idle machine, 1 when the others filled every CPU. None
    where ``/proc/stat`` cannot be read. Its resolution is the kernel's clock tick
    (10 ms), so a short turn reads roughly.
    """

    HZ = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    CPUS = os.cpu_count() or 1

    @staticmethod
    def _busy() -> float | None:
        try:
            with open("/proc/stat") as f:
                ticks = [int(v) for v in f.readline().split()[1:9]]
        except (OSError, ValueError):
            return None
        return (sum(ticks) - ticks[3] - ticks[4]) / Others.HZ  # all but idle and iowait

    def start(self) -> None:
        times = os.times()
        self.t0, self.busy0, self.own0 = time.perf_counter(), self._busy(), times[0] + times[1]

    def share(self) -> float | None:
        busy = self._busy()
        if busy is None or self.busy0 is None:
            return None
        times = os.times()
        wall = time.perf_counter() - self.t0
        others = (busy - self.busy0) - (times[0] + times[1] - self.own0)
        return max(0.0, others) / (wall * self.CPUS)


def _turn(fn: Callable, cooldown: float, warm: float, inner: int, timed: float) -> float:
    """One contestant's turn: pause, warm calls, then the median of the timed calls."""
    time.sleep(cooldown)
    start = time.perf_counter()
    fn()
    while time.perf_counter() - start < warm:
        fn()
    calls: list[float] = []
    start = time.perf_counter()
    while len(calls) < inner or time.perf_counter() - start < timed:
        t = time.perf_counter()
        fn()
        calls.append(time.perf_counter() - t)
    return statistics.median(calls)


def race(contestants: dict[str, Callable], rounds: int, warmup: int = 2, inner: int = 3,
         cooldown: float = 0.3, warm: float = 0.1, timed: float = 0.0,
         quiet: float | None = None, retries: int = 2,
         report: dict | None = None) -> dict[str, float]:
    """Median seconds per call of each closure, over alternating, rotating rounds.

    A contestant's turn in a round: sleep ``cooldown`` seconds, untimed calls for
    ``warm`` seconds (at least one), then timed calls (at least ``inner`` and ``timed``
    seconds' worth) whose median is the round's value. Both precautions matter on this
    2-core VM: the library that just ran leaves its pool threads spinning for a while
    (libgomp's and OpenBLAS's wait policies), so without the pause the first calls after
    a switch pay 4-8 ms each that neither library pays when run alone (measured:
    PyTorch's LeNet inference fell from 21,000 to 10,600 images/s right after xpnet's
    turn; with a 0.2 s pause it matched a solo run). And after the pause an idle vCPU
    stays slow to wake for tens of milliseconds: a library whose threads block between
    parallel regions (xpnet's) then runs at one core's speed (LeNet training after a
    0.3 s pause: 15.8 ms a step for the first four steps, 10.9 ms after 50 ms of work,
    the same as never pausing), while one whose threads spin (PyTorch's OpenMP) does
    not notice; ``warm`` gives both the state they have in a real training loop.

    With ``quiet`` set, a turn during which other processes took more than that share
    of the machine (:class:`Others`) is run again, up to ``retries`` times; ``report``
    (a dict) receives ``others``, the median share over the turns kept, and ``redone``.
    """
    names = list(contestants)
    for name in names:
        for _ in range(warmup):
            contestants[name]()
    times: dict[str, list[float]] = {n: [] for n in names}
    shares: list[float] = []
    redone = 0
    probe = Others()
    for r in range(rounds):
        for name in names[r % len(names):] + names[:r % len(names)]:
            for attempt in range(retries + 1):
                probe.start()
                value = _turn(contestants[name], cooldown, warm, inner, timed)
                share = probe.share()
                if quiet is None or share is None or share <= quiet or attempt == retries:
                    break
                redone += 1
            times[name].append(value)
            if share is not None:
                shares.append(share)
    if report is not None:
        report.update(others=statistics.median(shares) if shares else None, redone=redone)
    return {n: statistics.median(t) for n, t in times.items()}


# ------------------------------------------------------------------- throughput
def _row_text(row: dict) -> str:
    ips, best = row["ips"], row["best"]
    others = "n/a" if row["others"] is None else f"{row['others']:.2f}"
    return (f"{row['name']:14s} {row['mode']:5s} b{row['batch']:<4d} xpnet {ips['xpnet']:9.0f}  "
            f"torch {ips['torch']:9.0f}  torch_cl {ips['torch_cl']:9.0f}  "
            f"ratio {row['ratio']:.2f} (vs {best})  {row['gflops']:6.1f} GFLOP/s "
            f"{row['peak_share']:5.1%} of peak  others {others}")


def throughput(models: list[str], batches: list[int], modes: list[str], opts: Any,
               peak: float) -> list[dict]:
    """Race the three contestants on every network, batch and mode; print each row."""
    rows = []
    for name in models:
        fwd, step = flops(build_xpnet(name), MODELS[name])
        for batch in batches:
            players = {"xpnet": xpnet_steps(name, batch, batch, opts.device),
                       "torch": torch_steps(name, batch, batch, False, opts.device),
                       "torch_cl": torch_steps(name, batch, batch, True, opts.device)}
            for mode in modes:
                report: dict = {}
                med = race({p: steps[mode] for p, steps in players.items()}, opts.rounds,
                           inner=opts.inner, cooldown=opts.cooldown, warm=opts.warm,
                           timed=opts.timed, quiet=opts.quiet, retries=opts.retries,
                           report=report)
                ips = {p: batch / s for p, s in med.items()}
                best = max(("torch", "torch_cl"), key=ips.__getitem__)
                gflops = batch * (step if mode == "train" else fwd) / med["xpnet"] / 1e9
                row = dict(name=name, mode=mode, batch=batch, ips=ips, best=best,
                           ratio=ips["xpnet"] / ips[best], gflops=gflops,
                           peak_share=gflops / peak if peak else float("nan"), **report)
                rows.append(row)
                print(_row_text(row), flush=True)
    return rows


def combine_sweeps(sweeps: list[list[dict]]) -> list[dict]:
    """One row per (network, mode, batch) from several sweeps of the same rows: the
    median of each rate, of the ratio and of the GFLOP/s, the largest share taken by
    other processes, the better PyTorch layout most often, and ``sweeps``: the ratio of
    every sweep in order (a run-to-run spread that one sweep cannot show)."""
    rows: dict[tuple, list[dict]] = {}
    for sweep in sweeps:
        for r in sweep:
            rows.setdefault((r["name"], r["mode"], r["batch"]), []).append(r)
    out = []
    for same in rows.values():
        first = same[0]
        others = [r["others"] for r in same if r.get("others") is not None]
        row = dict(first, ips={k: statistics.median(r["ips"][k] for r in same)
                               for k in first["ips"]},
                   ratio=statistics.median(r["ratio"] for r in same),
                   gflops=statistics.median(r["gflops"] for r in same),
                   peak_share=statistics.median(r["peak_share"] for r in same),
                   others=max(others) if others else None,
                   sweeps=[r["ratio"] for r in same])
        if "best" in first:
            bests = [r["best"] for r in same]
            row["best"] = max(set(bests), key=bests.count)
        out.append(row)
    return out


def below_one(rows: list[dict]) -> None:
    """Print the rows whose ratio is below 1.0 (with every sweep's, when combined)."""
    below = [r for r in rows if r["ratio"] < 1.0]
    print(f"\nrows below 1.0: {len(below)} of {len(rows)}"
          + "".join(f"\n  {r['name']} {r['mode']} b{r['batch']} {r['ratio']:.2f}"
                    + (f" (sweeps {', '.join(f'{v:.2f}' for v in r['sweeps'])})"
                       if len(r.get("sweeps", ())) > 1 else "")
                    for r in below))


def print_table(rows: list[dict]) -> None:
    """The rows again as a Markdown table (docs/benchmarks.md takes it as it is); rows
    combined from several sweeps (:func:`combine_sweeps`) show each sweep's ratio."""
    many = any(len(r.get("sweeps", ())) > 1 for r in rows)
    print("\n| network | mode | batch | xpnet img/s | torch NCHW | torch CL | ratio | "
          + ("ratio per sweep | " if many else "")
          + "% of peak | others |\n|---|---|---|---|---|---|---|---|---|"
          + ("---|" if many else ""))
    for r in rows:
        others = "n/a" if r["others"] is None else f"{r['others']:.2f}"
        cl = "*" if r["best"] == "torch_cl" else ""
        each = (" " + ", ".join(f"{v:.2f}" for v in r["sweeps"]) + " |") if many else ""
        print(f"| {r['name']} | {r['mode']} | {r['batch']} | {r['ips']['xpnet']:,.0f} | "
              f"{r['ips']['torch']:,.0f} | {r['ips']['torch_cl']:,.0f}{cl} | "
              f"{r['ratio']:.2f} |{each} {r['peak_share']:.1%} | {others} |")
    below_one(rows)


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
                   "--batches", str(batch), "--threads", str(threads)]
            out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
            got[framework] = json.loads(out.stdout.strip().splitlines()[-1])
        mib = {f: r["step"] / 2**20 for f, r in got.items()}
        traced = got["xpnet"]["traced"] / 2**20
        least = min(mib["torch"], mib["torch_cl"])
        rows.append((name, batch, mib, traced))
        print(f"{name:14s} train b{batch:<4d} peak step memory MiB: xpnet {mib['xpnet']:7.1f} "
              f"(tracemalloc {traced:.1f})  torch {mib['torch']:7.1f}  torch_cl "
              f"{mib['torch_cl']:7.1f}  xpnet/torch {_ratio(mib['xpnet'], mib['torch'])}  "
              f"xpnet/least {_ratio(mib['xpnet'], least)}", flush=True)
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
        state["x"].grad = None  # else each call adds its dE/dx to the last one's
        state["y"].backward(g, retain_graph=True)

    return forward, backward, state["y"]


def profile(models: list[str], rounds: int, inner: int, batch: int) -> None:
    """Per layer, ms per forward and backward call: xpnet, torch NCHW, torch CL."""
    import torch

    rng = numpy.random.default_rng(3)

    def xp_grad(y: Any) -> numpy.ndarray:
        g = numpy.empty_like(y.data)  # in y's memory layout, as the next layer's backward
        g[...] = rng.standard_normal(y.shape, dtype=numpy.float32)  # would hand it back
        return g

    def pt_grad(y: Any) -> Any:
        g = torch.from_numpy(rng.standard_normal(tuple(y.shape), dtype=numpy.float32))
        return g.contiguous(memory_format=torch.channels_last) if (
            y.dim() == 4 and y.is_contiguous(memory_format=torch.channels_last)) else g

    cols = ("xp fwd", "xp bwd", "pt fwd", "pt bwd", "cl fwd", "cl bwd")
    for name in models:
        net = build_xpnet(name)
        tnet = to_torch(net)
        cnet = to_torch(net).to(memory_format=torch.channels_last)
        x, _ = data(MODELS[name], batch, 1)
        tx = torch.from_numpy(x.copy())
        cx = tx.contiguous(memory_format=torch.channels_last)
        print(f"\n{name}, batch {batch}: milliseconds per call (pt: torch NCHW, cl: torch "
              "channels_last); best = the better torch layout's time / xpnet's")
        print(f"{'layer':24s} {'output':>14s} " + " ".join(f"{c:>7s}" for c in cols)
              + f" {'best f':>7s} {'best b':>7s}")
        totals = numpy.zeros(6)
        for i, (layer, tlayer, clayer) in enumerate(zip(net, tnet, cnet, strict=True)):
            xf, xb, y = _layer_calls(layer, x, i == 0, xp_grad)
            tf, tb, ty = _layer_calls(tlayer, tx, i == 0, pt_grad)
            cf, cb, cy = _layer_calls(clayer, cx, i == 0, pt_grad)
            med = race({"xf": xf, "xb": xb, "tf": tf, "tb": tb, "cf": cf, "cb": cb}, rounds,
                       warmup=1, inner=inner, cooldown=0.15)
            ms = numpy.array([med[k] for k in ("xf", "xb", "tf", "tb", "cf", "cb")]) * 1e3
            totals += ms
            best_f, best_b = min(ms[2], ms[4]) / ms[0], min(ms[3], ms[5]) / max(ms[1], 1e-9)
            desc = f"{i} {type(layer).__name__}"
            print(f"{desc:24s} {str(y.shape[1:]):>14s} " + " ".join(f"{v:7.2f}" for v in ms)
                  + f" {best_f:7.2f} {best_b:7.2f}")
            x, tx, cx = y.data, ty.detach(), cy.detach()
        print(f"{'total':24s} {'':>14s} " + " ".join(f"{v:7.2f}" for v in totals)
              + f" {min(totals[2], totals[4]) / totals[0]:7.2f} "
              f"{min(totals[3], totals[5]) / totals[1]:7.2f}")


def torch_profiler(models: list[str], batch: int, rows: int = 12) -> None:
    """PyTorch's profiler on one training step of each layout: self CPU time per op."""
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    for name in models:
        for layout in (False, True):
            step = torch_steps(name, batch, batch, layout)["train"]
            for _ in range(3):
                step()
            with torch_profile(activities=[ProfilerActivity.CPU]) as prof:
                for _ in range(5):
                    step()
            print(f"\n{name}, batch {batch}, {'channels_last' if layout else 'NCHW'}: "
                  "torch.profiler over 5 training steps")
            print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=rows))


# ------------------------------------------------------------------------- main
def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", default=",".join(MODELS),
                        help=f"comma-separated, from {list(MODELS)}")
    parser.add_argument("--batches", default="1,32,128,256",
                        help="comma-separated batch sizes (each races train and infer)")
    parser.add_argument("--modes", default="train,infer", help="train, infer or both")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--inner", type=int, default=3,
                        help="least timed calls per contestant per turn")
    parser.add_argument("--timed", type=float, default=0.05,
                        help="least seconds of timed calls per turn")
    parser.add_argument("--cooldown", type=float, default=0.3,
                        help="seconds of pause before each turn")
    parser.add_argument("--warm", type=float, default=0.1,
                        help="seconds of untimed calls after the pause, before the timed ones")
    parser.add_argument("--quiet", type=float, default=0.25,
                        help="a turn in which other processes took more than this share of "
                             "the machine is run again")
    parser.add_argument("--retries", type=int, default=2, help="re-runs of a disturbed turn")
    parser.add_argument("--sweeps", type=int, default=1,
                        help="run every row this many times, one whole sweep after the "
                             "other, and report each row's median ratio and every sweep's")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--peak", type=float, default=None,
                        help="the fp32 peak in GFLOP/s (default: measured by bench/peak.py)")
    parser.add_argument("--memory", action="store_true", help="also peak memory of a step")
    parser.add_argument("--memory-only", action="store_true", help="only peak memory")
    parser.add_argument("--memory-batch", type=int, default=128)
    parser.add_argument("--profile", action="store_true", help="per-layer timings instead")
    parser.add_argument("--torch-profiler", action="store_true",
                        help="PyTorch's profiler table of a training step instead")
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu",
                        help="where both libraries run (throughput only)")
    parser.add_argument("--memory-child", choices=["xpnet", "torch", "torch_cl"],
                        help=argparse.SUPPRESS)
    return parser.parse_args()


def _ints(text: str, parser_error: Callable) -> list[int]:
    try:
        values = [int(v) for v in text.split(",")]
    except ValueError:
        values = []
    if not values or min(values) < 1:
        parser_error(f"expected comma-separated positive ints, got {text!r}")
    return values


def main() -> None:
    args = parse_args()
    error = argparse.ArgumentParser().error
    models = args.models.split(",")
    unknown = [m for m in models if m not in MODELS]
    if unknown:
        error(f"unknown models {unknown}; choose from {list(MODELS)}")
    batches = _ints(args.batches, error)
    modes = args.modes.split(",")
    if not modes or any(m not in ("train", "infer") for m in modes):
        error(f"--modes takes train, infer or train,infer, got {args.modes!r}")
    if args.memory_child:
        memory_child(args.memory_child, models[0], batches[0], args.threads)
        return
    set_threads(args.threads)
    import torch

    if args.device == "cuda":
        from xpnet import backend  # noqa: PLC0415

        if not (backend.cuda_available() and torch.cuda.is_available()):
            error("--device cuda needs a GPU that both CuPy and PyTorch can use")
        if args.memory or args.memory_only or args.profile or args.torch_profiler:
            error("--memory and --profile measure the CPU; leave out --device cuda")
    where = (f"{args.threads} threads" if args.device == "cpu"
             else f"GPU {torch.cuda.get_device_name()}")
    print(f"xpnet vs torch {torch.__version__}, numpy {numpy.__version__}, {where}, "
          f"float32; median over {args.rounds} alternating rounds", flush=True)
    if args.profile:
        profile(models, args.rounds, args.inner, batches[0])
        return
    if args.torch_profiler:
        torch_profiler(models, batches[0])
        return
    if not args.memory_only:
        peak = args.peak
        if peak is None and args.device == "cpu":
            import peak as peak_flops  # noqa: PLC0415

            peak = peak_flops.measure(args.threads)
            print(f"measured fp32 peak on {args.threads} threads: {peak:.1f} GFLOP/s "
                  f"(bench/peak.py)", flush=True)
        sweeps = []
        for k in range(args.sweeps):
            if args.sweeps > 1:
                print(f"sweep {k + 1} of {args.sweeps}", flush=True)
            sweeps.append(throughput(models, batches, modes, args, peak or 0.0))
        print_table(combine_sweeps(sweeps) if args.sweeps > 1 else sweeps[0])
    if args.memory or args.memory_only:
        memory(models, args.memory_batch, args.threads)


if __name__ == "__main__":
    main()
