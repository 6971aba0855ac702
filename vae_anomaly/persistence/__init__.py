"""A fitted model as a plain value (state) and its file (modelfile), loaded without unpickling."""
