"""autoenc.nn: the NumPy neural-network core (imports numpy only).

The original course contract (``forward``, ``backward_update_gradient``,
``backward_delta``, ``update_parameters``, ``zero_grad``; losses with ``forward(y, yhat)``
and ``backward(y, yhat)``) plus what PyTorch users expect (``Sequential.backward``,
``named_parameters``, ``state_dict``, optimizers that own their state, ``train``/``eval``).
"""

from .activations import LogSoftmax, ReLU, Sigmoid, Softmax, TanH
from .conv import Conv2D, ConvTranspose2D, Reshape, Upsample2D
from .entropy import EntropyBottleneck, RateDistortionLoss
from .gdn import GDN
from .gradcheck import GradcheckResult, gradcheck, gradcheck_loss, numeric_gradient
from .io import Checkpoint, ModelFileError, load, load_checkpoint, save
from .layers import Conv1D, Dropout, Flatten, Linear, MaxPool1D
from .losses import BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, Loss, MSELoss, NLLLoss, get_loss
from .module import Module, Parameter, Sequential, module_from_config
from .optim import SGD, Adam, Optim, Optimizer, get_optimizer
from .train import History, evaluate, fit, predict

__all__ = [
    "Adam", "BCELoss", "BCEWithLogitsLoss", "Checkpoint", "Conv1D", "Conv2D", "ConvTranspose2D",
    "CrossEntropyLoss", "Dropout", "EntropyBottleneck", "Flatten",
    "GDN", "GradcheckResult", "History", "Linear", "LogSoftmax", "Loss", "MSELoss", "MaxPool1D",
    "ModelFileError", "Module", "NLLLoss", "Optim", "Optimizer", "Parameter", "RateDistortionLoss", "ReLU", "Reshape",
    "SGD", "Sequential", "Sigmoid", "Softmax", "TanH", "Upsample2D", "evaluate", "fit", "get_loss", "get_optimizer",
    "gradcheck", "gradcheck_loss", "load", "load_checkpoint", "module_from_config", "numeric_gradient",
    "predict", "save",
]
