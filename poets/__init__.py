"""The work behind the flower-retraining DAG, as plain functions without Luigi.

Named after the codelab it rebuilds, "TensorFlow for Poets 2". Modules import
TensorFlow lazily, inside the functions that need it, so that importing this
package (and the Luigi tasks built on it) stays cheap.
"""
