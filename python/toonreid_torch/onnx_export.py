"""python3 -m toonreid_torch.onnx_export EXPORT.pt OUT.onnx [--opset 13]

Traces the network of a `toonreid export --format pytorch` file with torch.onnx.export:
input "images" float32 [N, 3, H, W] (N free) normalised as the metadata says, output
"embeddings" float32 [N, D]. The export's metadata is kept in the ONNX model's
metadata_props ("toonreid" as JSON, and input_mean / input_std / input_size / chip /
licence for readers that do not parse it). onnx.checker must pass; the file is written
atomically. `toonreid export --format onnx` runs this.
"""
import argparse
import json
import os
import sys
import tempfile

import torch

from . import load


def export(source, out, opset=13):
    model = load(source)
    meta = model.meta
    h, w = meta["input"]["height"], meta["input"]["width"]
    dummy = torch.zeros(2, 3, h, w)
    folder = os.path.dirname(os.path.abspath(out))
    fd, staged = tempfile.mkstemp(prefix=".onnx-", suffix=".tmp", dir=folder)
    os.close(fd)
    try:
        with torch.no_grad():
            torch.onnx.export(model, dummy, staged, input_names=["images"], output_names=["embeddings"],
                              dynamic_axes={"images": {0: "N"}, "embeddings": {0: "N"}}, opset_version=opset,
                              do_constant_folding=True)
        import onnx  # python3-onnx
        proto = onnx.load(staged)
        props = {
            "toonreid": json.dumps(meta, sort_keys=True),
            "input_size": "%dx%d (height x width)" % (h, w),
            "input_mean": json.dumps(meta["input"]["mean"]),
            "input_std": json.dumps(meta["input"]["std"]),
            "input_layout": meta["input"]["layout"],
            "chip": json.dumps(meta["face"], sort_keys=True),
            "licence": meta["weights"]["licence"],
        }
        del proto.metadata_props[:]
        for k, v in props.items():
            entry = proto.metadata_props.add()
            entry.key, entry.value = k, v
        proto.producer_name = "toonreid"
        proto.doc_string = ("toonreid embedding network (%s): images float32 [N, 3, %d, %d], (pixel / 255 - mean) / std, "
                            "RGB -> embeddings float32 [N, %d]" % (meta["architecture"]["backbone"], h, w,
                                                                    meta["architecture"]["embedding_dim"]))
        onnx.checker.check_model(proto)
        onnx.save(proto, staged)
        os.chmod(staged, 0o644)  # mkstemp makes it private; a model file is not
        os.replace(staged, out)
    except BaseException:
        if os.path.exists(staged):
            os.remove(staged)
        raise


def main(argv=None):
    parser = argparse.ArgumentParser(prog="toonreid_torch.onnx_export", description=__doc__.split("\n\n")[1])
    parser.add_argument("source", help="a toonreid export --format pytorch file")
    parser.add_argument("out", help="the .onnx file to write")
    parser.add_argument("--opset", type=int, default=13)
    args = parser.parse_args(argv)
    try:
        export(args.source, args.out, args.opset)
    except (ValueError, OSError, RuntimeError) as e:
        print("toonreid_torch.onnx_export: %s" % e, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
