"""Tasks applied to one graph variant: retrained, optimized, or a quantization mode.

The variant is a parameter of its own, so evaluating the optimized graph does
not depend on --quantization-mode and is not rerun when the mode changes.

A quantization mode goes one way: the modes a run asks for name its variants
(variants_with), and a variant names the task that makes its graph
(VariantTask.graph_task); nothing else turns one into the other.
"""

from luigi.util import inherits

from poets.variants import quantize
from tasks.artifact import ArtifactTask
from tasks.optimize import Optimize
from tasks.parameters import Choice
from tasks.quantize import Quantize
from tasks.retrain import Retrain


def variants_with(modes) -> tuple:
    """The variants a run asking for these quantization modes makes: the frozen graphs, then each mode's."""
    return quantize.UNQUANTIZED + tuple(modes)


VARIANTS = variants_with(quantize.MODES)


@inherits(Optimize)
class VariantTask(ArtifactTask):
    variant = Choice(choices=VARIANTS, description="the graph to work on")

    def graph_task(self):
        """The task whose `graph` is this variant's."""
        if self.variant in quantize.MODE_TABLE:
            return self.clone(Quantize, quantization_mode=self.variant)
        return self.clone({"retrained": Retrain, "optimized": Optimize}[self.variant])
