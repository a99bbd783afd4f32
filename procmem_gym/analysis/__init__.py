"""Analysis of finished runs: comparisons, reports and figures.

Paired comparisons (:mod:`.evaluation`), reports of learning runs (:mod:`.report`) and the
memory's evolution as a picture (:mod:`.memory_plot`).

matplotlib is imported only when a figure is drawn (the ``plot`` extra).
"""

from procmem_gym.analysis.evaluation import PairedComparison, compare

__all__ = ["PairedComparison", "compare"]
