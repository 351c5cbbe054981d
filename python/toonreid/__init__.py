"""toonreid from Python: the C++ library's embedder, retrieval and evaluation on numpy.

    import toonreid
    config = toonreid.Config.load("configs/synth_demo.yaml")
    test = toonreid.Dataset.open("demo_out/synth").split("test")
    features = toonreid.Embedder(config).embed(test)          # float32 [N, D]
    toonreid.evaluate_dataset(config, features, test)["C2P"]["mAP"]

Errors are toonreid.Error (ConfigError, DataError) with the library's message.
"""
import json as _json

from ._toonreid import (Config, ConfigError, DataError, Dataset, Embedder, Error,  # noqa: F401
                        distances, evaluate, rerank)
from . import _toonreid


def evaluate_dataset(config, features, dataset):
    """C2P and P2C metrics of `features` (one row per record of `dataset`) under the
    config's test.* settings: the dict `toonreid eval --json` writes."""
    return _json.loads(_toonreid.evaluate_dataset_json(config, features, dataset))


__all__ = ["Config", "ConfigError", "DataError", "Dataset", "Embedder", "Error", "distances", "evaluate",
           "evaluate_dataset", "rerank"]
