"""What every room stands on: the graph contract, failures, photos and the split, downloads, label
fixes, metrics, folds."""
