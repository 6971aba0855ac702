"""Table files on disk: reading any supported format as record batches, and writing outputs atomically."""
