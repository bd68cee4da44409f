"""CuPy arrays through the communicators: staged through host memory, or NCCL. These need
a GPU (and NCCL needs one GPU per rank); they skip without, with the reason."""

import numpy
import pytest

from xpnet import Tensor, backend, nn, optim
from xpnet import functions as F
from xpnet.distributed import DataParallel, LocalCommunicator

pytestmark = pytest.mark.gpu


@pytest.fixture
def cupy():
    if not backend.cuda_available():
        pytest.skip("no CUDA device (CuPy with a GPU)")
    import cupy

    return cupy


def _gpus(cupy):
    return cupy.cuda.runtime.getDeviceCount()


def _net():
    r = numpy.random.default_rng(0)
    return nn.Sequential(nn.Conv2d(1, 4, 3, rng=r), nn.ReLU(), nn.Flatten(),
                         nn.Linear(4 * 36, 3, rng=r)).double()


def test_data_parallel_of_one_process_on_the_gpu_gives_plain_gradients(cupy):
    x, y = numpy.random.default_rng(1).standard_normal((4, 1, 8, 8)), numpy.arange(4) % 3
    plain = _net().to("cuda")
    F.softmax_cross_entropy(plain(Tensor(cupy.asarray(x))), cupy.asarray(y)).backward()
    model = DataParallel(_net().to("cuda"), LocalCommunicator())
    F.softmax_cross_entropy(model(Tensor(cupy.asarray(x))), cupy.asarray(y)).backward()
    for p, q in zip(model.parameters(), plain.parameters()):
        cupy.testing.assert_allclose(p.grad, q.grad, rtol=1e-12)


@pytest.mark.parametrize("nccl", ["never", "auto"])
def test_allreduce_and_broadcast_of_cupy_arrays(two_ranks, cupy, nccl):
    from xpnet.distributed import MPICommunicator

    if nccl == "auto" and _gpus(cupy) < two_ranks.size:
        pytest.skip("NCCL needs one GPU per rank")
    cupy.cuda.Device(two_ranks.rank % _gpus(cupy)).use()
    comm = MPICommunicator(nccl=nccl)
    a = cupy.full(1000, comm.rank + 1.0, dtype=cupy.float32)
    assert comm.allreduce(a) is a
    assert float(a[0]) == 3.0
    b = cupy.full(10, float(comm.rank))
    comm.broadcast(b, root=1)
    assert float(b.sum()) == 10.0
    gathered = comm.allgather(cupy.full((2, comm.rank + 1), comm.rank), axis=1)
    assert gathered.shape == (2, 3) and isinstance(gathered, cupy.ndarray)


def test_two_ranks_on_the_gpu_step_as_one_process(two_ranks, cupy):
    from xpnet.data import ArrayDataset, DataLoader
    from xpnet.distributed import DistributedLoader

    comm = two_ranks
    cupy.cuda.Device(comm.rank % _gpus(cupy)).use()
    rng = numpy.random.default_rng(2)
    data = ArrayDataset(rng.standard_normal((20, 1, 8, 8)), rng.integers(0, 3, 20))

    def train(model, loader):
        opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        for xb, yb in loader:
            opt.zero_grad()
            x = Tensor(cupy.asarray(xb, dtype=cupy.float64))
            F.softmax_cross_entropy(model(x), cupy.asarray(yb)).backward()
            opt.step()

    reference = _net().to("cuda")
    train(reference, DataLoader(data, 8, seed=0, prefetch=0))
    model = DataParallel(_net().to("cuda"), comm, bucket_mb=1e-3)
    train(model, DistributedLoader(data, 4, comm, seed=0, prefetch=0))
    for p, q in zip(model.parameters(), reference.parameters()):
        cupy.testing.assert_allclose(p.data, q.data, rtol=1e-11, atol=1e-13)
