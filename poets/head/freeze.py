"""The retrained graph: the head frozen on top of the base model into `retrained_graph.pb`
(the head is poets/head/layers.py's, how long it trained poets/head/training.py's)."""

from poets.core.contract import INPUT, OUTPUT


def retrained_graph(arch, weights_path, layers, block_weights=None):
    """A frozen GraphDef: `input` [None, size, size, 3] float32 -> `final_result` softmax
    of the head `layers` [(weights, biases), ...] on the base model's features,
    its layers' weights replaced by `block_weights` ({layer name: weights},
    the fine-tuned blocks) where given."""
    import keras
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import (
        convert_variables_to_constants_v2,
    )

    # Keras numbers unnamed layers per process (global_average_pooling2d_3),
    # and those names end up in the graph: start from a clean count so the
    # same parameters always give the same bytes.
    keras.backend.clear_session()
    model = arch.base_model(weights_path)
    for name, weights in (block_weights or {}).items():
        model.get_layer(name).set_weights(weights)
    spec = tf.TensorSpec([None, arch.size, arch.size, 3], tf.float32, name=INPUT)

    @tf.function(input_signature=[spec])
    def classify(pixels):
        features = model(pixels, training=False)
        for weights, biases in layers[:-1]:
            features = tf.nn.relu(tf.matmul(features, tf.constant(weights)) + tf.constant(biases))
        weights, biases = layers[-1]
        logits = tf.matmul(features, tf.constant(weights)) + tf.constant(biases)
        return tf.nn.softmax(logits, name=OUTPUT)

    frozen = convert_variables_to_constants_v2(classify.get_concrete_function())
    return frozen.graph.as_graph_def()
