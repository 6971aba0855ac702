"""The parts of ``vae-detect report``: bounded summaries of a scoring pass, the figures' shared style, and the HTML page."""
