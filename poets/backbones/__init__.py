"""The base models: each architecture's name and what it builds, EfficientNet-Lite from a state
dict, two joined."""
