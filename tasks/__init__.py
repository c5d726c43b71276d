"""One module per stage of the DAG: the Luigi task with its parameters,
requirements and output, and a thin run() calling into `poets`."""
