"""From encoded rows to scores: the network as plain values, the NumPy and torch engines, their one factory, and the scorer."""
