"""Data-side throughput: augmentation and the prefetching loader, in images per second.

Measures (float32, NCHW, batch 128 by default, median of the rounds):
  * elastic distortion of 28x28 MNIST-5k digits (Simard: alpha 34, sigma 4);
  * AlexNet-style augmentation at 64x64: random 64x64 crop of 72x72 RGB images (the
    256 -> 224 ratio), horizontal flip and PCA lighting (fitted on the images);
  * a full DataLoader epoch over MNIST-5k's 4,000 training digits with elastic distortion,
    without prefetch and with prefetch 2 (the consumer does no work here, so the two are
    equal; the overlap shows when a training step runs between batches).
BLAS threads are limited with threadpoolctl when it is installed.

Run:
    python bench/bench_data.py [--batch 128] [--rounds 20] [--threads 2]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy

from xpnet.data import ArrayDataset, DataLoader, load_mnist5k
from xpnet.data import transforms as T


def images_per_second(fn, batch: int, rounds: int) -> float:
    fn()  # warm-up (caches, first allocation)
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return batch / statistics.median(times)


def main(argv: list[str] | None = None) -> dict[str, float]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(args.threads)
    except ImportError:
        pass
    rng = numpy.random.default_rng(0)
    x_train, y_train, _, _ = load_mnist5k(seed=0)
    digits = x_train[: args.batch]
    elastic = T.ElasticDistortion(34.0, 4.0)
    results = {}
    results["elastic 28x28"] = images_per_second(lambda: elastic(digits, rng), args.batch,
                                                 args.rounds)
    rgb = rng.random((args.batch, 3, 72, 72), dtype=numpy.float32)
    alexnet = T.Compose([T.RandomCrop(64), T.RandomHorizontalFlip(), T.PCALighting.fit(rgb)])
    results["crop+flip+PCA 64x64"] = images_per_second(lambda: alexnet(rgb, rng), args.batch,
                                                       args.rounds)
    dataset = ArrayDataset(x_train, y_train)
    for prefetch in (0, 2):
        loader = DataLoader(dataset, args.batch, seed=0, transform=elastic, prefetch=prefetch)
        start = time.perf_counter()
        n = sum(len(y) for _, y in loader)
        results[f"loader epoch, elastic, prefetch {prefetch}"] = n / (time.perf_counter() - start)
    print(f"batch {args.batch}, {args.threads} BLAS threads, float32, median of {args.rounds}")
    for name, value in results.items():
        print(f"  {name:<36} {value:>10,.0f} images/s")
    return results


if __name__ == "__main__":
    main()
