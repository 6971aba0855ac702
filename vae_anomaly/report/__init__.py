"""``vae-detect report``: the report job, its bounded summaries of a scoring pass, the figures and the HTML page."""
