"""The codelab's command-line tools: label_image and graph_pb2tb."""
