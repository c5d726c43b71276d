"""Models on disk and running them: frozen graphs, TFLite and its metadata, MediaPipe's clients."""
