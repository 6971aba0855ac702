"""``vae-detect report``: the report job, bounded summaries of a scoring pass, the figures and HTML page."""
