"""The base model's features of every photo, computed once and kept."""
