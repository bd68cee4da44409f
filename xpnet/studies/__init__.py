"""Studies: the classic claims of the field reproduced on real data, over seeds, side by
side with PyTorch, each from one command (``xpnet study NAME``).

Each study is one module (a :class:`Study` named ``STUDY``) with its arms, the numbers it
measures, its plots and its findings; :data:`STUDIES` is the literal registry the command
line reads; :func:`run_study` runs one over its seeds and writes ``results.json``,
``table.md`` and ``plot.png``. The PyTorch twin of each arm (:mod:`xpnet.studies.twin`)
is imported only when asked for: xpnet never needs PyTorch.

Example:
    >>> from xpnet.studies import STUDIES, run_study
    >>> list(STUDIES)[:3]
    ['perceptron', 'batching', 'activations']
    >>> done = run_study("perceptron", seeds=3, out="studies/perceptron")
    >>> print(done.table)
"""

from xpnet.studies import (
    activations,
    augmentation,
    batching,
    maxout,
    normalization,
    overfitting,
    perceptron,
    pooling,
    preprocessing,
    pretraining,
    sharing,
    translation,
)
from xpnet.studies.base import Context, Metric, Plot, Study
from xpnet.studies.runner import StudyRun, Summary, run_study

#: The studies by name, in the order of the papers' argument.
STUDIES: dict[str, Study] = {
    "perceptron": perceptron.STUDY,
    "batching": batching.STUDY,
    "activations": activations.STUDY,
    "overfitting": overfitting.STUDY,
    "maxout": maxout.STUDY,
    "pooling": pooling.STUDY,
    "translation": translation.STUDY,
    "sharing": sharing.STUDY,
    "augmentation": augmentation.STUDY,
    "preprocessing": preprocessing.STUDY,
    "pretraining": pretraining.STUDY,
    "normalization": normalization.STUDY,
}

__all__ = ["STUDIES", "Context", "Metric", "Plot", "Study", "StudyRun", "Summary",
           "run_study"]
