"""A fitted model's state, to show that a failed call changed nothing."""

import numpy as np


def snapshot(est):
    """Copies of the estimator's fitted attributes (names ending in '_')."""
    def copy(v):
        if isinstance(v, np.ndarray):
            return v.copy()
        if isinstance(v, list):
            return [a.copy() if isinstance(a, np.ndarray) else a for a in v]
        return v
    return {k: copy(v) for k, v in vars(est).items() if k.endswith("_")}


def assert_unchanged(est, before):
    """est's fitted attributes equal the snapshot ``before`` (NaN equal to NaN)."""
    after = snapshot(est)
    assert after.keys() == before.keys()
    for k, v in before.items():
        if isinstance(v, list) and v and isinstance(v[0], np.ndarray):
            assert len(after[k]) == len(v), k
            for a, b in zip(after[k], v):
                np.testing.assert_array_equal(a, b)
        elif isinstance(v, np.ndarray):
            np.testing.assert_array_equal(after[k], v)
        else:
            assert after[k] == v or (v != v and after[k] != after[k]), k
