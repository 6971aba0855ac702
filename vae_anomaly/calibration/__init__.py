"""Pure numerics on scores: thresholds, p-values, the fitted tail, and the drift check with its reference."""
