"""Model builders on the NumPy core: autoencoders (fully connected and convolutional), MLPs and
the Conv1D network."""

from .builders import (
    ACTIVATIONS,
    AutoEncoder,
    autoencoder,
    autoencoder_problem,
    code_shape,
    conv1d_net,
    conv_autoencoder,
    hidden_widths,
    layer_sizes,
    mlp,
    relu_activity,
)
from .compression import CompressionAutoencoder, compression_autoencoder

__all__ = ["ACTIVATIONS", "AutoEncoder", "CompressionAutoencoder", "autoencoder", "autoencoder_problem", "code_shape",
           "compression_autoencoder", "conv1d_net", "conv_autoencoder", "hidden_widths", "layer_sizes", "mlp",
           "relu_activity"]
