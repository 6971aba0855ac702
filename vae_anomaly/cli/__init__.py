"""The ``vae-detect`` command line: parse the arguments, call the library's jobs, render the results."""
