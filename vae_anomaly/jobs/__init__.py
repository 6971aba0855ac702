"""What each ``vae-detect`` command runs: fit a file, score or evaluate a file as a stream, describe a model.

This layer, and the CLI above it, is where process-wide settings belong
(thread limits while batches are scored in threads); nothing below it
changes one.
"""
