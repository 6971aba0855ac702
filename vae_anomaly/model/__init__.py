"""The torch VAE and how it is fitted: likelihood terms, the network, tensors, the optimiser, training, residual covariance."""
