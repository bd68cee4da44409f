"""The ``xpnet`` command: train, evaluate, predict, list, summarise and visualise networks.

The only part of xpnet that reads argv or the environment. It parses arguments, calls the
library and prints: :func:`xpnet.train.train_run` trains, :func:`xpnet.train.load_run`
reads a run folder, :mod:`xpnet.viz.commands` draws. One module per command group
(``train``, ``runs``, ``zoo``, ``viz``), each with ``add_commands(subparsers, common)``;
``main.COMMANDS`` lists them.

Example:
    $ xpnet train                       # LeNet-5 on MNIST-5k
    $ xpnet train --model mlp --data digits --epochs 5 --lr 0.1
    $ xpnet evaluate runs/lenet5-mnist5k-20250101-120000
"""

from xpnet.cli.main import build_parser, main

__all__ = ["build_parser", "main"]
