"""The torch VAE and how it is fitted: likelihood terms, network, tensors, optimiser, training, residuals.

The residuals are the decoder's, and their covariance is estimated once the
network is trained.
"""
