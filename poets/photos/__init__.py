"""The photo check: out-of-fold probabilities, nearest neighbours, photos whose label or topic looks
wrong."""
