"""The package version, in one place that every stage may read."""

__version__ = "0.3.0.dev0"
