"""Compress: the gzip of a graph variant and its sizes, as `gzip -l` shows them."""

from poets.variants.compress import gzip_file
from tasks.artifact import read_json, write_json
from tasks.variant import VariantTask


class Compress(VariantTask):
    stage = "compress"
    version = 2  # 2: zlib-ng

    def requires(self):
        return self.graph_task()

    def sizes(self):
        return read_json(self.path("gzip.json"))

    def run(self):
        graph = self.requires().graph
        with self.artifact_folder() as folder:
            write_json(folder / "gzip.json", gzip_file(graph, folder / (graph.name + ".gz")))
