"""What each ``vae-detect`` command runs: fit a file, score or evaluate a file as a stream, describe a model.

This layer, and the CLI above it, is where process-wide settings belong:
thread limits (:mod:`vae_anomaly.jobs.threads`), held only while record
batches are being scored, never while a caller's code runs between them.
Nothing below it changes one.
"""
