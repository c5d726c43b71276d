"""The classifier on the features: its layers, settings and training, fine-tuning, calibration, the
graph frozen."""
