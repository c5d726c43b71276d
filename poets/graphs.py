"""Frozen GraphDefs on disk and running them, the way the codelab's scripts do."""

from pathlib import Path

import numpy as np

from poets.retrain import INPUT, OUTPUT


def load(path):
    from tensorflow.core.framework import graph_pb2

    graph_def = graph_pb2.GraphDef()
    graph_def.ParseFromString(Path(path).read_bytes())
    return graph_def


def save(graph_def, path):
    # deterministic: the same graph gives the same bytes, run after run.
    Path(path).write_bytes(graph_def.SerializeToString(deterministic=True))


class Classifier:
    """A frozen graph ready to feed: `input` in, `final_result` out."""

    def __init__(self, graph_def, input_name=INPUT, output_name=OUTPUT):
        import tensorflow as tf

        self.graph = tf.Graph()
        with self.graph.as_default():
            tf.compat.v1.import_graph_def(graph_def, name="")
        self.session = tf.compat.v1.Session(graph=self.graph)
        self.input = self.graph.get_tensor_by_name(input_name + ":0")
        self.output = self.graph.get_tensor_by_name(output_name + ":0")

    def __call__(self, pixels):
        return self.session.run(self.output, {self.input: np.asarray(pixels, np.float32)})

    def close(self):
        self.session.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def node_count(graph_def):
    return len(graph_def.node)
