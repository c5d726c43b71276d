"""Tasks applied to one graph variant: retrained, optimized, or a quantization mode.

The variant is a parameter of its own, so evaluating the optimized graph does
not depend on --quantization-mode and is not rerun when the mode changes.
"""

from luigi.util import inherits

from poets.variants import quantize
from tasks.artifact import ArtifactTask
from tasks.optimize import Optimize
from tasks.parameters import Choice
from tasks.quantize import Quantize
from tasks.retrain import Retrain

VARIANTS = quantize.UNQUANTIZED + quantize.MODES


@inherits(Optimize)
class VariantTask(ArtifactTask):
    variant = Choice(choices=VARIANTS, description="the graph to work on")

    def graph_task(self):
        if self.variant == "retrained":
            return self.clone(Retrain)
        if self.variant == "optimized":
            return self.clone(Optimize)
        return self.clone(Quantize, quantization_mode=self.variant)
