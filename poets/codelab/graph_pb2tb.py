"""The codelab's graph_pb2tb.py: a frozen graph as an event file for TensorBoard's Graph tab.

    python -m poets.codelab.graph_pb2tb LOGDIR GRAPH.pb
    tensorboard --logdir LOGDIR
"""

import argparse
import sys
from pathlib import Path


def graph_to_tensorboard(logdir: Path, graph_path: Path) -> Path:
    """Write `graph_path` into an event file under `logdir`; returns the event file's path."""
    from poets.core import quiet
    from poets.models import graphs

    tf = quiet.import_tensorflow()

    graph_def = graphs.load(graph_path)
    writer = tf.summary.create_file_writer(str(logdir))
    with writer.as_default():
        tf.summary.graph(graph_def)
    writer.close()
    return max(Path(logdir).glob("events.out.tfevents.*"), key=lambda p: p.stat().st_mtime)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Write a frozen graph for TensorBoard's Graph tab.")
    parser.add_argument("logdir")
    parser.add_argument("graph")
    args = parser.parse_args(argv)
    path = graph_to_tensorboard(args.logdir, args.graph)
    print(f"Wrote {path}\nView it with: tensorboard --logdir {args.logdir}")


if __name__ == "__main__":
    sys.exit(main())
