"""Data-parallel training on 1 and 2 processes: xpnet over MPI against PyTorch DDP (gloo).

Three parts:

1. Throughput (the default): images/s of a training step (forward, softmax
   cross-entropy, backward with the gradients averaged over the ranks, SGD momentum
   step) for LeNet-5, the CIFAR net and AlexNet-64, on 1 and 2 processes with the
   machine's cores shared out (threads per process = cores / processes), a fixed local
   batch per process (``--batch``) on random data (no data loading). The contestants:
   xpnet (``xpnet.distributed.DataParallel``, buckets reduced by MPI_Iallreduce during
   backward) and PyTorch's DistributedDataParallel on its gloo backend (NCHW, as users
   run it), the same networks with the same weights. Both live in every process of ONE
   ``mpiexec`` job and take turns (PyTorch takes its rank from MPI and talks through
   gloo over TCP on 127.0.0.1), so that a change in the machine's load hits both; a
   turn during which other processes took more than ``--quiet`` of the CPUs runs again
   (see :func:`_turns`). One process runs the plain loop, no wrapper. Each cell is the
   median over ``--rounds`` turns. ``eff`` = images/s of 2 processes / images/s of 1
   process on the same cores (one process with all the threads): 1.0 means sharing the
   machine between processes costs nothing. ``eff/core`` = images/s of 2 processes /
   (2 x images/s of 1 process on 1 thread): the classic scaling efficiency, each
   process one core's worth. ``wait`` is the time per step xpnet's slower-to-finish rank
   sat in MPI_Wait for buckets that backward had not hidden (the ranks' skew included).
2. ``--allreduce``: the time of one allreduce of float32 buffers from 1 KiB to
   256 MiB between 2 processes (MPI through mpi4py, and PyTorch's gloo), with the
   algorithm bandwidth n / t and the latency of the smallest size.
3. ``--model-table``: a cost model of data-parallel AlexNet on P = 2..64 nodes from
   measured figures: t_step(P) = t_compute + T_allreduce(P, n), with the ring
   allreduce's T = 2 (P - 1) alpha + 2 (P - 1) / P n beta (Thakur, Rabenseifner and Gropp
   2005), alpha and beta fitted (least squares) to the 2-process allreduce times, and
   t_compute one process's measured step on this machine's cores; efficiency =
   t_compute / t_step (no overlap of communication with backward: the conservative
   end) and t_compute / max(t_compute, T) (full overlap). ``--link-gbps`` and
   ``--link-latency-us`` replace the measured beta and alpha by a network's.
4. ``--buckets``: xpnet alone on 2 processes with each gradient bucket size of
   ``--bucket-sizes`` (MiB), turn about: images/s and the wait per step.

Run (numbers in docs/benchmarks.md, from a shared 2-core machine):
    python bench/bench_distributed.py
    python bench/bench_distributed.py --allreduce
    python bench/bench_distributed.py --model-table [--link-gbps 10]
    python bench/bench_distributed.py --buckets
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from bench_cnn import data  # noqa: E402
from nets import CONVNETS, ZOO_CONVNETS, build_xpnet, to_torch  # noqa: E402

MODELS = {name: CONVNETS[name] for name in ZOO_CONVNETS}  # LeNet-5, CIFAR net, AlexNet-64

SIZES = [2**k for k in range(10, 29, 2)]  # 1 KiB .. 256 MiB


def _cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (
        os.cpu_count() or 1)


def _rank_size() -> tuple[int, int]:
    env = os.environ
    return int(env.get("PMI_RANK", env.get("OMPI_COMM_WORLD_RANK", 0))), int(
        env.get("PMI_SIZE", env.get("OMPI_COMM_WORLD_SIZE", 1)))


# ------------------------------------------------------------------- workers
def _threads(n: int) -> None:
    """Give both libraries ``n`` threads: torch's pool, xpnet's batch split, NumPy's BLAS."""
    import torch
    from threadpoolctl import threadpool_limits

    from xpnet.cpu import set_num_threads, tune_allocator

    tune_allocator()  # as a training process runs (the CLI and Trainer make this call)
    torch.set_num_threads(n)
    set_num_threads(n)
    threadpool_limits(n, user_api="blas")


def _xpnet_step(args: argparse.Namespace, comm: Any) -> tuple[Any, Any]:
    """xpnet's training step (DataParallel on 2 ranks, the plain loop on 1), its buckets."""
    import xpnet
    from xpnet import distributed, optim
    from xpnet import functions as F

    net = build_xpnet(args.model)
    model = distributed.DataParallel(net, comm, args.bucket_mb) if comm.size > 1 else net
    opt = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x, y = data(MODELS[args.model], args.batch, 1 + comm.rank)

    def step() -> None:
        opt.zero_grad()
        F.softmax_cross_entropy(model(xpnet.Tensor(x)), y).backward()
        opt.step()

    return step, getattr(model, "sync", None)


def _torch_step(args: argparse.Namespace, comm: Any) -> Any:
    """PyTorch's step: DistributedDataParallel over gloo on 2 ranks, the plain loop on 1."""
    import torch
    import torch.distributed as dist

    if comm.size > 1:
        dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{args.port}",
                                rank=comm.rank, world_size=comm.size)
    net = to_torch(build_xpnet(args.model))
    model = torch.nn.parallel.DistributedDataParallel(net) if comm.size > 1 else net
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    xa, ya = data(MODELS[args.model], args.batch, 1 + comm.rank)
    x, y = torch.from_numpy(xa), torch.from_numpy(ya)

    def step() -> None:
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()

    return step


def _cpu_seconds() -> float:
    times = os.times()
    return times[0] + times[1]  # this process's user + system time, all its threads


def _turns(steps: dict[str, Any], syncs: dict[str, Any], args: argparse.Namespace,
           comm: Any) -> dict[str, Any]:
    """Time the ``steps`` closures turn about on every rank; rank 0's answer is the job's.

    A turn: every rank pauses ``--cooldown`` s (the library that ran before leaves its
    pool threads spinning a while), runs ``--warm`` untimed steps, meets the others at
    a barrier, then times ``--steps`` steps; the turn's time is the slowest rank's. The
    ranks run the same number of steps (each holds collectives). A turn during which other
    processes took more than ``--quiet`` of the machine (all CPUs' busy time from
    ``/proc/stat``, less the CPU time of the job's processes, over wall time x CPUs) is
    run again, up to ``--retries`` times. Rounds rotate the order of the contestants.
    ``syncs`` maps a contestant to its GradientBuckets (or None): their wait per step.
    """
    for step in steps.values():
        for _ in range(args.warmup):
            step()
    names, cpus = list(steps), os.cpu_count() or 1
    seconds: dict[str, list[float]] = {n: [] for n in names}
    waits: dict[str, list[float]] = {n: [] for n in names}
    others_kept: list[float] = []
    redone = 0
    for r in range(args.rounds):
        for name in names[r % len(names):] + names[:r % len(names)]:
            sync = syncs.get(name)
            for attempt in range(args.retries + 1):
                comm.barrier()
                time.sleep(args.cooldown)
                for _ in range(args.warm):
                    steps[name]()
                if sync is not None:
                    sync.reset_timers()
                comm.barrier()
                busy0, cpu0, t0 = _busy_seconds(), _cpu_seconds(), time.perf_counter()
                for _ in range(args.steps):
                    steps[name]()
                t1, cpu1, busy1 = time.perf_counter(), _cpu_seconds(), _busy_seconds()
                wait = sync.wait_seconds if sync is not None else 0.0
                ranks = comm.allgather_object((t1 - t0, cpu1 - cpu0, wait))
                others = 0.0
                if busy0 is not None and busy1 is not None:
                    own = sum(c for _, c, _ in ranks)
                    others = max(0.0, (busy1 - busy0) - own) / ((t1 - t0) * cpus)
                others = comm.broadcast_object(others)  # rank 0's reading decides
                if others <= args.quiet or attempt == args.retries:
                    break
                redone += 1
            seconds[name].append(max(t for t, _, _ in ranks))
            waits[name].append(max(w for _, _, w in ranks) / args.steps)
            others_kept.append(others)
    images = comm.size * args.batch * args.steps
    return {"ips": {n: images / statistics.median(t) for n, t in seconds.items()},
            "wait_ms": {n: 1e3 * statistics.median(w) for n, w in waits.items()},
            "buckets": {n: len(s.buckets) for n, s in syncs.items() if s is not None},
            "others": others_kept, "redone": redone}


def race_worker(args: argparse.Namespace) -> dict[str, Any]:
    """xpnet and PyTorch in every process of the job, turn about (see :func:`_turns`)."""
    from xpnet import distributed

    comm = distributed.init()
    _threads(args.threads or max(1, _cores() // comm.size))
    xpnet_step, sync = _xpnet_step(args, comm)
    return _turns({"xpnet": xpnet_step, "torch": _torch_step(args, comm)}, {"xpnet": sync},
                  args, comm)


def buckets_worker(args: argparse.Namespace) -> dict[str, Any]:
    """xpnet alone with each bucket size of ``--bucket-sizes``, turn about."""
    from xpnet import distributed

    comm = distributed.init()
    _threads(args.threads or max(1, _cores() // comm.size))
    steps, syncs = {}, {}
    for mb in args.bucket_sizes.split(","):
        args.bucket_mb = float(mb)
        steps[mb], syncs[mb] = _xpnet_step(args, comm)
    return _turns(steps, syncs, args, comm)


def allreduce_worker(args: argparse.Namespace) -> dict[str, Any]:
    """Median seconds of one float32 allreduce per size: MPI (mpi4py) and gloo."""
    from xpnet import distributed

    comm = distributed.init()
    out: dict[str, Any] = {"mpi": {}, "gloo": {}}
    for n in SIZES:
        buf = numpy.ones(n // 4, numpy.float32)
        out["mpi"][n] = _median_time(lambda b=buf: comm.allreduce(b), n, comm.barrier)
    import torch
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{args.port}",
                            rank=comm.rank, world_size=comm.size)
    for n in SIZES:
        t = torch.ones(n // 4, dtype=torch.float32)
        out["gloo"][n] = _median_time(lambda t=t: dist.all_reduce(t), n, dist.barrier)
    dist.destroy_process_group()
    return out


def _median_time(call: Any, nbytes: int, barrier: Any) -> float:
    repeats = max(3, min(200, int(2**22 // nbytes)))
    call()  # warm: first-touch of the buffers, connections
    times = []
    for _ in range(repeats):
        barrier()
        begin = time.perf_counter()
        call()
        times.append(time.perf_counter() - begin)
    return statistics.median(times)


def compute_worker(args: argparse.Namespace) -> dict[str, Any]:
    """One process's training step on all cores: seconds per image, gradient bytes."""
    import xpnet
    from xpnet import functions as F
    from xpnet import optim
    from xpnet.models.alexnet import alexnet

    _threads(_cores())
    net = alexnet(1000, seed=0) if args.model == "alexnet" else build_xpnet(args.model)
    shape = (3, 227, 227) if args.model == "alexnet" else MODELS[args.model]
    opt = optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    x, y = data(shape, args.batch, 1)
    times = []
    for i in range(args.warmup + args.steps):
        begin = time.perf_counter()
        opt.zero_grad()
        F.softmax_cross_entropy(net(xpnet.Tensor(x)), y % 10).backward()
        opt.step()
        if i >= args.warmup:
            times.append(time.perf_counter() - begin)
    return {"seconds_per_image": statistics.median(times) / args.batch,
            "gradient_bytes": 4 * net.num_parameters()}


WORKERS = {"race": race_worker, "buckets": buckets_worker, "allreduce": allreduce_worker,
           "compute": compute_worker}


# ------------------------------------------------------------------- launcher
def _mpiexec() -> str:
    here = Path(sys.executable).with_name("mpiexec")
    found = str(here) if here.exists() else shutil.which("mpiexec")
    if found is None:
        sys.exit("bench_distributed: needs mpiexec: pip install -e '.[mpi]'")
    return found


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _busy_seconds() -> float | None:
    """CPU seconds all processes have been busy since boot (``/proc/stat``; Linux)."""
    try:
        with open("/proc/stat") as f:
            ticks = [int(v) for v in f.readline().split()[1:9]]
    except (OSError, ValueError):
        return None
    return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")  # not idle, iowait


def _children_seconds() -> float:
    """User + system CPU seconds of the waited-for children (the job's processes)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


OTHERS: list[float] = []  # the share of the CPUs other processes took during each job kept
REDONE: list[str] = []  # the jobs run again because others took more than --quiet


def launch(worker: str, n: int, args: argparse.Namespace, **options: Any) -> dict[str, Any]:
    """Run ``worker`` as a job of ``n`` processes; returns rank 0's JSON line.

    A job during which other processes took more than ``--quiet`` of the machine's CPU
    time (all CPUs' busy time from ``/proc/stat``, less the job's own CPU time, over its
    wall time x the CPU count) runs again, up to ``--retries`` times: on a shared machine
    the load then falls on neither contestant."""
    flags = [f"--{k.replace('_', '-')}={v}" for k, v in {**vars_of(args), **options}.items()]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PMI_", "OMPI_"))}
    cpus = os.cpu_count() or 1
    retries = 0 if worker == "race" else args.retries  # the race reruns its own turns
    for attempt in range(retries + 1):
        busy0, own0, t0 = _busy_seconds(), _children_seconds(), time.perf_counter()
        done = subprocess.run([_mpiexec(), "-n", str(n), sys.executable, __file__, "--worker",
                               worker, f"--port={_free_port()}", *flags],
                              capture_output=True, text=True, timeout=1800, env=env)
        busy1, own1, t1 = _busy_seconds(), _children_seconds(), time.perf_counter()
        if done.returncode != 0:
            sys.exit(f"bench_distributed: {worker} on {n} failed:\n{done.stderr[-3000:]}")
        others = 0.0
        if busy0 is not None and busy1 is not None:
            others = max(0.0, (busy1 - busy0) - (own1 - own0)) / ((t1 - t0) * cpus)
        if others <= args.quiet or attempt == retries:
            break
        REDONE.append(f"{worker} {options.get('model', '')} n={n}")
    if worker != "race":
        OTHERS.append(others)
    return json.loads(done.stdout.strip().splitlines()[-1])


def _load_line(args: argparse.Namespace, what: str = "job") -> str:
    if not OTHERS:
        return ""
    return (f"other processes took {100 * statistics.median(OTHERS):.0f}% of the CPUs during "
            f"a {what} (median over the {len(OTHERS)} {what}s kept), {100 * max(OTHERS):.0f}% "
            f"at most; {len(REDONE)} {what}(s) run again for taking more than --quiet "
            f"{args.quiet:g} (at most {args.retries} times each)")


def vars_of(args: argparse.Namespace) -> dict[str, Any]:
    return {k: getattr(args, k) for k in ("model", "batch", "steps", "warmup", "bucket_mb",
                                          "threads", "rounds", "warm", "cooldown", "quiet",
                                          "retries")}


def throughput(args: argparse.Namespace) -> None:
    steps = {"lenet5": 40, "cifar_convnet": 10, "alexnet_small": 4}  # about 0.3 s a turn
    cells: dict[tuple, dict] = {}
    for model in args.models:
        for n, threads in ((1, 0), (1, 1), (2, 0)):  # 0: cores / processes
            got = launch("race", n, args, model=model, threads=threads,
                         steps=args.steps or steps[model])
            cells[(model, n, threads)] = got
            OTHERS.extend(got["others"])
            REDONE.extend(["turn"] * got["redone"])
    print(f"data parallel, {_cores()} cores, local batch {args.batch}, threads per process "
          f"= cores / processes; images/s, median of {args.rounds} turns per contestant")
    print(_load_line(args, "turn"))
    print(f"{'':<14} {'1 proc':>8} {'1 proc':>8} {'2 procs':>8} {'':>5} {'':>8} {'':>8}")
    print(f"{'model':<14} {'cores':>8} {'1 thr':>8} {'1 thr ea':>8} {'eff':>5} {'eff/core':>8}"
          f" {'wait ms':>8}")
    ratios = {}
    for model in args.models:
        for c in ("xpnet", "torch"):
            ips = [cells[(model, n, t)]["ips"][c] for n, t in ((1, 0), (1, 1), (2, 0))]
            eff, per_core = ips[2] / ips[0], ips[2] / (2 * ips[1])
            ratios.setdefault(model, []).append((eff, per_core))
            wait = (f"{cells[(model, 2, 0)]['wait_ms'][c]:8.2f}" if c == "xpnet" else f"{'':>8}")
            print(f"{model + ' ' + c:<14} {ips[0]:>8,.0f} {ips[1]:>8,.0f} {ips[2]:>8,.0f} "
                  f"{eff:>5.2f} {per_core:>8.2f} {wait}")
    print("efficiency xpnet / torch (eff, eff/core): " + ", ".join(
        f"{m} {x[0] / t[0]:.2f}, {x[1] / t[1]:.2f}" for m, (x, t) in ratios.items()))


def bucket_table(args: argparse.Namespace) -> None:
    steps = {"lenet5": 40, "cifar_convnet": 10, "alexnet_small": 4}
    rows = {}
    for model in args.models:
        got = launch("buckets", 2, args, model=model, steps=args.steps or steps[model],
                     bucket_sizes=args.bucket_sizes)
        OTHERS.extend(got["others"])
        REDONE.extend(["turn"] * got["redone"])
        rows[model] = got
    print(f"xpnet on 2 processes, local batch {args.batch}, by gradient bucket size; "
          f"median of {args.rounds} turns per size")
    print(_load_line(args, "turn"))
    print(f"{'model':<14} {'bucket MiB':>10} {'buckets':>8} {'images/s':>9} {'wait ms':>8}")
    for model, got in rows.items():
        for mb in args.bucket_sizes.split(","):
            print(f"{model:<14} {mb:>10} {got['buckets'][mb]:>8} {got['ips'][mb]:>9,.0f} "
                  f"{got['wait_ms'][mb]:>8.2f}")


def allreduce_table(args: argparse.Namespace) -> dict[str, Any]:
    got = launch("allreduce", 2, args)
    print("allreduce of float32 buffers between 2 processes on this machine "
          "(median seconds; bandwidth = bytes / time)")
    print(f"{'bytes':>12} {'MPI us':>10} {'MPI MB/s':>10} {'gloo us':>10} {'gloo MB/s':>10}")
    for n in SIZES:
        m, g = got["mpi"][str(n)], got["gloo"][str(n)]
        print(f"{n:>12,} {1e6 * m:>10.1f} {n / m / 1e6:>10,.0f} {1e6 * g:>10.1f} "
              f"{n / g / 1e6:>10,.0f}")
    print(_load_line(args))
    return got


def fit_alpha_beta(times: dict[str, float]) -> tuple[float, float]:
    """Least squares of t = 2 alpha + n beta (the ring on 2 processes) over the sizes."""
    n = numpy.array([float(k) for k in times])
    t = numpy.array(list(times.values()))
    a = numpy.stack([numpy.full_like(n, 2.0), n], axis=1)
    w = 1.0 / t  # relative errors: the small sizes count as much as the large
    (alpha, beta), *_ = numpy.linalg.lstsq(a * w[:, None], t * w, rcond=None)
    return max(alpha, 0.0), beta


def model_table(args: argparse.Namespace) -> None:
    if args.link_gbps:
        beta, alpha = 8 / (args.link_gbps * 1e9), args.link_latency_us * 1e-6
        source = f"a {args.link_gbps:g} Gb/s link, {args.link_latency_us:g} us latency"
    else:
        alpha, beta = fit_alpha_beta(launch("allreduce", 2, args)["mpi"])
        source = "fitted to this machine's MPI allreduce (shared memory)"
    print(f"cost model: ring allreduce T = 2 (P-1) alpha + 2 (P-1)/P n beta; alpha = "
          f"{alpha * 1e6:.2f} us, 1/beta = {1 / beta / 1e9:.2f} GB/s ({source})")
    for model, batch in (("alexnet_small", 128), ("alexnet", args.alexnet_batch)):
        c = launch("compute", 1, args, model=model, batch=batch, steps=args.compute_steps,
                   warmup=1)
        n, tc = c["gradient_bytes"], c["seconds_per_image"] * 128
        print(f"\n{model}: gradients {n / 2**20:.1f} MiB; compute per step of 128 images "
              f"per node {tc * 1e3:.0f} ms (measured at batch {batch}, one process on "
              f"{_cores()} cores)")
        print(f"{'nodes':>6} {'allreduce ms':>13} {'step ms':>9} {'eff (no overlap)':>17} "
              f"{'eff (overlap)':>14} {'images/s':>10}")
        for p in (2, 4, 8, 16, 32, 64):
            t = 2 * (p - 1) * alpha + 2 * (p - 1) / p * n * beta
            step = tc + t
            print(f"{p:>6} {t * 1e3:>13.1f} {step * 1e3:>9.0f} {tc / step:>17.2f} "
                  f"{tc / max(tc, t):>14.2f} {p * 128 / step:>10,.0f}")
    print(_load_line(args))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--worker", choices=sorted(WORKERS), help=argparse.SUPPRESS)
    p.add_argument("--port", type=int, default=29500, help=argparse.SUPPRESS)
    p.add_argument("--model", default="lenet5", help=argparse.SUPPRESS)
    p.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    p.add_argument("--batch", type=int, default=64, help="local batch per process")
    p.add_argument("--steps", type=int, default=0,
                   help="timed steps per turn (0: per model, about 0.3 s)")
    p.add_argument("--warmup", type=int, default=3, help="untimed steps of each at the start")
    p.add_argument("--rounds", type=int, default=5, help="turns per contestant")
    p.add_argument("--warm", type=int, default=2, help="untimed steps after each pause")
    p.add_argument("--cooldown", type=float, default=0.3, help="seconds of pause before a turn")
    p.add_argument("--bucket-mb", type=float, default=1.0, help="xpnet's bucket size, MiB")
    p.add_argument("--buckets", action="store_true",
                   help="xpnet on 2 processes with each of --bucket-sizes instead")
    p.add_argument("--bucket-sizes", default="0.25,1,4,25")
    p.add_argument("--threads", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--quiet", type=float, default=0.1,
                   help="a job during which other processes took more than this share of "
                        "the CPUs runs again")
    p.add_argument("--retries", type=int, default=3, help="re-runs of a disturbed job")
    p.add_argument("--allreduce", action="store_true", help="the allreduce sweep")
    p.add_argument("--model-table", action="store_true", help="the 2-64 node cost model")
    p.add_argument("--alexnet-batch", type=int, default=16,
                   help="batch at which the 227x227 AlexNet's step is measured")
    p.add_argument("--compute-steps", type=int, default=2)
    p.add_argument("--link-gbps", type=float, default=0.0,
                   help="--model-table for a network of this bandwidth (0: the measured "
                        "shared-memory figures)")
    p.add_argument("--link-latency-us", type=float, default=50.0,
                   help="... and this latency per message")
    args = p.parse_args()
    if args.worker:
        result = WORKERS[args.worker](args)
        if _rank_size()[0] == 0:
            print(json.dumps(result), flush=True)
        return
    if args.buckets:
        bucket_table(args)
    elif args.allreduce:
        allreduce_table(args)
    elif args.model_table:
        model_table(args)
    else:
        throughput(args)


if __name__ == "__main__":
    main()
