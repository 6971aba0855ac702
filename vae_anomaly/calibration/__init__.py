"""Pure numerics on scores: thresholds and p-values, the fitted tail, and the drift check with its reference."""
