"""From a user's table to the arrays the network reads: column kinds, scaling, series, windows, model rows."""
