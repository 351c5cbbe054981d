"""toonreid's embedding networks in plain PyTorch, for files `toonreid export --format
pytorch` writes. Needs only torch (and numpy for `to_input`):

    import toonreid_torch
    model = toonreid_torch.load("model.pt")       # eval mode, weights loaded strictly
    x = toonreid_torch.to_input(chips, model.meta)  # uint8 [N, H, W, 3] RGB chips
    embeddings = model(x)                          # float32 [N, D], unit rows

`model.meta` says how inputs are made (size, mean/std, face chip geometry) and where the
weights come from (their licence applies).
"""
import json

import torch

from .nets import (DlibResNet, EmbeddingHead, IBN, ResNet, ToonreidEmbedder, build)  # noqa: F401

FORMAT = "toonreid.export/1"


def read(file):
    """The export's dict: format, meta and state_dict (tensors on the CPU)."""
    saved = torch.load(file, map_location="cpu", weights_only=True)  # tensors and built-ins only: runs no code
    if not isinstance(saved, dict) or saved.get("format") != FORMAT:
        raise ValueError("%s: not a toonreid export (expected format %s)" % (file, FORMAT))
    saved["meta"] = json.loads(saved["meta"])
    return saved


def load(file):
    """The embedding network of a `toonreid export --format pytorch` file, in eval mode."""
    saved = read(file)
    model = build(saved["meta"])
    model.load_state_dict(saved["state_dict"], strict=True)
    model.meta = saved["meta"]
    return model.eval()


def to_input(chips, meta):
    """uint8 RGB images [N, H, W, 3] (numpy or torch) of the network's input size ->
    float32 [N, 3, H, W] normalised as the export's metadata says."""
    x = torch.as_tensor(chips)
    if x.dim() != 4 or x.shape[3] != 3 or x.dtype != torch.uint8:
        raise ValueError("to_input: expected uint8 [N, H, W, 3] RGB images, got %s %s" % (x.dtype, tuple(x.shape)))
    h, w = meta["input"]["height"], meta["input"]["width"]
    if x.shape[1] != h or x.shape[2] != w:
        raise ValueError("to_input: images of %dx%d, the network takes %dx%d (resize or align them first)"
                         % (x.shape[2], x.shape[1], w, h))
    mean = torch.tensor(meta["input"]["mean"], dtype=torch.float32).view(1, 3, 1, 1)
    std = torch.tensor(meta["input"]["std"], dtype=torch.float32).view(1, 3, 1, 1)
    return (x.permute(0, 3, 1, 2).float() / 255.0 - mean) / std
