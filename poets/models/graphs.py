"""Frozen GraphDefs on disk and running them, the way the codelab's scripts do."""

import hashlib
from pathlib import Path

import numpy as np

from poets.core import quiet
from poets.core.contract import INPUT, OUTPUT, is_tflite


def load(path: Path):
    quiet.import_tensorflow()
    from tensorflow.core.framework import graph_pb2

    graph_def = graph_pb2.GraphDef()
    graph_def.ParseFromString(Path(path).read_bytes())
    return graph_def


def save(graph_def, path: Path) -> None:
    # deterministic: the same graph gives the same bytes, run after run.
    Path(path).write_bytes(graph_def.SerializeToString(deterministic=True))


# The ops between the base model's features and OUTPUT in the graphs the pipeline writes
# (retrain.retrained_graph's head: MatMul, its bias, ReLU between layers, the softmax).
HEAD_OPS = {"Softmax", "Add", "AddV2", "BiasAdd", "MatMul", "Relu", "Identity"}


def features_tensor(graph_def, output_name: str = OUTPUT) -> str | None:
    """The tensor the head's first layer takes (the base model's features), found walking up
    from `output_name` through HEAD_OPS along each op's first input; None where no MatMul is met."""
    nodes = {node.name: node for node in graph_def.node}
    name, first_layer = output_name, None
    while name in nodes and nodes[name].op in HEAD_OPS:
        node = nodes[name]
        if not node.input:
            break
        if node.op == "MatMul":
            first_layer = node
        name = node.input[0].split(":")[0]
    if not first_layer:
        return None
    features = first_layer.input[0]
    return features if ":" in features else features + ":0"


def part_digest(graph_def, tensor: str) -> str | None:
    """sha256 of the nodes `tensor` is computed from, as bytes; None where one of them is stateful:
    only then is the tensor's value a function of those nodes and the fed input alone."""
    from tensorflow.compat.v1 import graph_util
    from tensorflow.python.framework import op_def_registry

    part = graph_util.extract_sub_graph(graph_def, [tensor.split(":")[0]])
    if any(op_def_registry.get(node.op) is None or op_def_registry.get(node.op).is_stateful for node in part.node):
        return None
    return hashlib.sha256(part.SerializeToString(deterministic=True)).hexdigest()


class Classifier:
    """A frozen graph ready to feed: `input` in, `final_result` out."""

    def __init__(self, graph_def, input_name=INPUT, output_name=OUTPUT):
        tf = quiet.import_tensorflow()

        self.graph_def = graph_def
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

    def head_cut(self) -> tuple[str, str] | None:
        """(the features tensor's name, the digest of the part computing it), or None where the graph
        has no head to cut at or that part is not a pure function of the input."""
        name = features_tensor(self.graph_def, self.output.op.name)
        digest = name and part_digest(self.graph_def, name)
        return (name, digest) if digest else None

    def with_features(self, pixels, features: str):
        """(the tensor `features`, the output) of `pixels`, in one run."""
        return self.session.run([features, self.output], {self.input: np.asarray(pixels, np.float32)})

    def from_features(self, values, features: str):
        """The output with the tensor `features` fed `values`: only the part after it runs."""
        return self.session.run(self.output, {features: values})

    def close(self):
        self.session.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def open_model(path: Path, input_name: str = INPUT, output_name: str = OUTPUT, threads: int | None = None):
    """A classifier for a frozen graph (.pb) or a TFLite model (.tflite, .lite); `threads`: LiteRT's
    (None: its default, one), where TensorFlow's session always takes every core."""
    if is_tflite(path):
        from poets.models.tflite import TFLiteClassifier

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
