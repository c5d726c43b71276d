"""Frozen GraphDefs on disk and running them, the way the codelab's scripts do."""

from pathlib import Path

import numpy as np

from poets import quiet
from poets.contract import INPUT, OUTPUT


def load(path: Path):
    quiet.import_tensorflow()
    from tensorflow.core.framework import graph_pb2

    graph_def = graph_pb2.GraphDef()
    graph_def.ParseFromString(Path(path).read_bytes())
    return graph_def


def save(graph_def, path: Path) -> None:
    # deterministic: the same graph gives the same bytes, run after run.
    Path(path).write_bytes(graph_def.SerializeToString(deterministic=True))


class Classifier:
    """A frozen graph ready to feed: `input` in, `final_result` out."""

    def __init__(self, graph_def, input_name=INPUT, output_name=OUTPUT):
        tf = quiet.import_tensorflow()

        self.graph = tf.Graph()
        with self.graph.as_default():
            tf.compat.v1.import_graph_def(graph_def, name="")
        self.session = tf.compat.v1.Session(graph=self.graph)
        self.input = self.graph.get_tensor_by_name(input_name + ":0")
        self.output = self.graph.get_tensor_by_name(output_name + ":0")
        shape = self.input.shape
        self.size = int(shape[1]) if shape.rank == 4 and shape[1] is not None else None

    def __call__(self, pixels):
        return self.session.run(self.output, {self.input: np.asarray(pixels, np.float32)})

    def close(self):
        self.session.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def open_model(path: Path, input_name: str = INPUT, output_name: str = OUTPUT, threads: int | None = None):
    """A classifier for a frozen graph (.pb) or a TFLite model (.tflite, .lite); `threads`: LiteRT's
    (None: its default, one), where TensorFlow's session always takes every core."""
    if Path(path).suffix in (".tflite", ".lite"):
        from poets.tflite import TFLiteClassifier

        return TFLiteClassifier(path, threads=threads)
    return Classifier(load(path), input_name, output_name)


def const_node(name: str, value: np.ndarray):
    """A Const NodeDef holding the numpy `value`."""
    from tensorflow.core.framework import node_def_pb2
    from tensorflow.python.framework import tensor_util

    tensor = tensor_util.make_tensor_proto(value)
    node = node_def_pb2.NodeDef(name=name, op="Const")
    node.attr["dtype"].type = tensor.dtype
    node.attr["value"].tensor.CopyFrom(tensor)
    return node


def const_value(node) -> np.ndarray:
    """The numpy value of a Const NodeDef."""
    from tensorflow.python.framework import tensor_util

    return tensor_util.MakeNdarray(node.attr["value"].tensor)


def node_count(graph_def) -> int:
    return len(graph_def.node)
