"""Quantize: the optimized graph with its weights quantized per --quantization-mode."""

from luigi.util import inherits

from poets import graphs, quantize
from tasks.artifact import ArtifactTask, Choice
from tasks.optimize import Optimize

GRAPH_FILES = {"weights_rounded": "rounded_graph.pb", "weights": "quantized_graph.pb"}


@inherits(Optimize)
class Quantize(ArtifactTask):
    stage = "quantize"
    version = 2  # 2: levels per output channel
    quantization_mode = Choice(
        default="weights_rounded", choices=quantize.MODES,
        description="weights_rounded: 256 levels stored as float (gzips well); "
                    "weights: 8-bit storage with a Dequantize op",
    )

    def requires(self):
        return self.clone(Optimize)

    @property
    def graph_file(self):
        return GRAPH_FILES[self.quantization_mode]

    @property
    def graph(self):
        return self.path(self.graph_file)

    def run(self):
        quantized = quantize.quantize(graphs.load(self.requires().graph), self.quantization_mode)
        with self.artifact_folder() as folder:
            graphs.save(quantized, folder / self.graph_file)
