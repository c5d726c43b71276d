"""Optimize: the retrained graph stripped for inference, proven unchanged."""

import logging

from luigi.util import inherits

from poets.models import graphs
from poets.variants import optimize
from tasks.artifact import ArtifactTask, write_json
from tasks.download import DownloadDataset
from tasks.retrain import Retrain

log = logging.getLogger("luigi-interface")


@inherits(Retrain)
class Optimize(ArtifactTask):
    stage = "optimize"
    uses_tensorflow = True
    version = 2  # 2: constant folding and batch norms folded into the convolutions
    graph_file = "optimized_graph.pb"

    # A sample of the photos: from a bucket, only those are downloaded.
    reads_in_part = ("dataset",)

    def requires(self):
        return {"retrain": self.clone(Retrain), "dataset": self.clone(DownloadDataset)}

    @property
    def graph(self):
        return self.path(self.graph_file)

    def run(self):
        retrained = graphs.load(self.requires()["retrain"].graph)
        optimized = optimize.optimize(retrained)
        pixels = self.requires()["dataset"].sample_pixels(self.architecture.size)
        difference = optimize.check_same_outputs(retrained, optimized, pixels)
        if left := optimize.batch_norm_ops(optimized):
            raise AssertionError(f"batch norm arithmetic left in the optimized graph: {', '.join(left[:5])}")
        with self.artifact_folder() as folder:
            graphs.save(optimized, folder / self.graph_file)
            write_json(folder / "optimize.json", {
                "nodes_before": graphs.node_count(retrained),
                "nodes_after": graphs.node_count(optimized),
                "max_difference": difference,
                "photos_checked": len(pixels),
            })
        log.info("Optimize: %d -> %d nodes, max |difference| %.2g on %d photos",
                 len(retrained.node), len(optimized.node), difference, len(pixels))
