"""fastmlp: multi-layer perceptrons for the CPU, a drop-in for scikit-learn's.

>>> from fastmlp import MLPClassifier, MLPRegressor
"""

from fastmlp._config import show_config
from fastmlp._estimators import MLPClassifier, MLPRegressor
from fastmlp._persist import ModelFileError, load, save
from fastmlp._version import __version__

__all__ = ["MLPClassifier", "MLPRegressor", "ModelFileError", "load", "save", "show_config",
           "__version__"]
