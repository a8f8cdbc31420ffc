"""fastmlp: multi-layer perceptrons for the CPU, a drop-in for scikit-learn's.

>>> from fastmlp import MLPClassifier, MLPRegressor
"""

from fastmlp._estimators import MLPClassifier, MLPRegressor

__version__ = "0.1.0.dev0"
__all__ = ["MLPClassifier", "MLPRegressor"]
