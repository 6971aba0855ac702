"""From encoded rows to scores: the network as plain values, the engines, their one factory, the scorer.

The engines are NumPy (on CPU) and torch (on a GPU, or for the
importance-weighted bound).
"""
