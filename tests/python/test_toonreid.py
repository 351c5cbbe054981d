"""The Python module against the library and the CLI, on data the project generates."""
import os
import re
import subprocess

import numpy as np
import pytest

import toonreid

SOURCE = os.environ.get("TOONREID_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.environ.get("TOONREID_BIN", os.path.join(SOURCE, "build", "toonreid"))
DEMO = os.path.join(SOURCE, "configs", "synth_demo.yaml")


def run(*args):
    done = subprocess.run([BIN, *args], capture_output=True, text=True, cwd=SOURCE)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def toons(tmp_path_factory):
    root = tmp_path_factory.mktemp("toons") / "synth"
    run("synth", "--out", str(root), "--identities", "6", "--photos", "3", "--cartoons", "3", "--size", "96",
        "--seed", "3", "--quiet")
    return root


def test_config_loads_merges_and_names_a_bad_key():
    config = toonreid.Config.load(DEMO, ["test.rerank.k1=9"])
    assert config.get("test.rerank.k1") == 9
    assert config.get("model.backbone") == "dlib_resnet"
    assert toonreid.Config.defaults().get("solver.optimizer") == "sgd"
    with pytest.raises(toonreid.ConfigError, match="no_such_key"):
        toonreid.Config.load(DEMO, ["test.no_such_key=1"])
    with pytest.raises(toonreid.Error):
        toonreid.Config.load(os.path.join(SOURCE, "configs", "missing.yaml"))
    assert issubclass(toonreid.ConfigError, toonreid.Error) and issubclass(toonreid.DataError, toonreid.Error)


def test_distances_rerank_and_evaluate_on_arrays():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(5, 16)).astype(np.float32)
    q_ids = np.repeat(np.arange(5), 2)
    g_ids = np.repeat(np.arange(5), 4)
    q = centres[q_ids] + 0.3 * rng.normal(size=(10, 16)).astype(np.float32)
    g = centres[g_ids] + 0.3 * rng.normal(size=(20, 16)).astype(np.float32)
    d = toonreid.distances(q, g)
    expected = ((q[:, None, :] - g[None, :, :]) ** 2).sum(-1) ** 0.5
    assert d.shape == (10, 20) and d.dtype == np.float32
    np.testing.assert_allclose(d, expected, rtol=1e-4, atol=1e-4)
    m = toonreid.evaluate(q, g, list(q_ids), list(g_ids))
    # mAP by hand from the distances
    aps = []
    for i in range(10):
        order = np.argsort(expected[i], kind="stable")
        hits = (g_ids[order] == q_ids[i]).astype(float)
        precision = np.cumsum(hits) / np.arange(1, 21)
        aps.append((precision * hits).sum() / hits.sum())
    assert m["mAP"] == pytest.approx(np.mean(aps), abs=1e-6)
    assert m["queries"] == 10 and m["skipped"] == 0
    r = toonreid.rerank(q, g, k1=4, k2=2)
    assert r.shape == (10, 20) and np.isfinite(r).all()
    with pytest.raises(toonreid.Error, match="2-d"):
        toonreid.distances(q[0], g)
    with pytest.raises(toonreid.Error):
        toonreid.evaluate(q, g, list(q_ids)[:3], list(g_ids))


def test_embedding_and_evaluation_equal_the_cli(toons, tmp_path):
    config = toonreid.Config.load(DEMO, ["data.root=" + str(toons)])
    test = toonreid.Dataset.open(str(toons)).split("test")
    embedder = toonreid.Embedder(config)
    features = embedder.embed(test)
    assert features.shape == (len(test), embedder.dim) and features.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(features, axis=1), 1, atol=1e-5)
    # The same features as `toonreid extract`, and by path.
    run("extract", "--config", DEMO, "--data", str(toons), "--split", "test", "--out", str(tmp_path / "x"), "--quiet",
        "data.root=" + str(toons))
    np.testing.assert_allclose(features, np.load(tmp_path / "x" / "features.npy"), atol=1e-6)
    np.testing.assert_allclose(embedder.embed(test.paths[:3]), features[:3], atol=1e-6)
    # The mAP `toonreid eval` prints, to its digits.
    report = toonreid.evaluate_dataset(config, features, test)
    printed = run("eval", "--config", DEMO, "--data", str(toons), "--split", "test", "data.root=" + str(toons))
    c2p = re.search(r"^C2P\s+([0-9.]+)", printed, re.M).group(1)
    p2c = re.search(r"^P2C\s+([0-9.]+)", printed, re.M).group(1)
    assert f"{100 * report['C2P']['mAP']:.2f}" == c2p
    assert f"{100 * report['P2C']['mAP']:.2f}" == p2c


def test_arrays_embed_like_files_and_bad_images_are_named(toons, tmp_path):
    config = toonreid.Config.load(DEMO)
    embedder = toonreid.Embedder(config)
    path = sorted((toons / "images").rglob("P*.jpg"))[0]
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(path.read_bytes()[:200])
    with pytest.raises(toonreid.DataError, match="broken.jpg"):
        embedder.embed([str(bad)])
    with pytest.raises(toonreid.DataError):
        embedder.embed([np.zeros((10, 10), np.uint8)])
    # A picture as an array embeds as the same picture read from a file (lossless PNG).
    picture = np.random.default_rng(1).integers(0, 255, size=(120, 100, 3)).astype(np.uint8)
    png = tmp_path / "picture.png"
    write_png(png, picture)
    from_array = embedder.embed([picture])
    assert from_array.shape == (1, embedder.dim)
    np.testing.assert_allclose(from_array, embedder.embed([str(png)]), atol=1e-6)


def write_png(path, rgb):
    import struct
    import zlib

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    h, w, _ = rgb.shape
    raw = b"".join(b"\x00" + rgb[y].tobytes() for y in range(h))
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)) +
                     chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def test_export_pytorch_and_onnx_give_toonreid_embeddings(tmp_path):
    """Parity of `toonreid export` with `toonreid extract` on lossless (PNG) pictures of the
    network's input size, so that both sides see the same pixels."""
    import csv
    import json

    import torch

    import toonreid_torch

    root = tmp_path / "synth"
    run("synth", "--out", str(root), "--identities", "3", "--photos", "2", "--cartoons", "2", "--size", "150",
        "--seed", "5", "--quiet")
    pictures = {}
    rng = np.random.default_rng(5)
    for jpg in sorted((root / "images").rglob("*.jpg")):  # the same layout, lossless pictures
        picture = rng.integers(0, 255, size=(150, 150, 3)).astype(np.uint8)
        png = jpg.with_suffix(".png")
        write_png(png, picture)
        jpg.unlink()
        pictures[png.resolve()] = picture
    run("extract", "--config", DEMO, "--data", str(root), "--split", "test", "--out", str(tmp_path / "x"), "--quiet",
        "data.root=" + str(root))
    expected = np.load(tmp_path / "x" / "features.npy")
    rows = list(csv.DictReader(open(tmp_path / "x" / "records.csv")))
    chips = np.stack([pictures[(tmp_path / "x" / r["path"]).resolve()] for r in rows])

    run("export", "--config", DEMO, "--format", "pytorch", "--out", str(tmp_path / "dlib.pt"), "--quiet")
    model = toonreid_torch.load(str(tmp_path / "dlib.pt"))
    assert model.meta["architecture"]["backbone"] == "dlib_resnet" and "public domain" in model.meta["weights"]["licence"]
    with torch.no_grad():
        got = model(toonreid_torch.to_input(chips, model.meta)).numpy()
    assert np.abs(got - expected).max() <= 1e-4
    # plain tensors only: the file loads without running code
    assert set(torch.load(str(tmp_path / "dlib.pt"), weights_only=True)) == {"format", "meta", "state_dict"}

    run("export", "--config", DEMO, "--format", "onnx", "--out", str(tmp_path / "dlib.onnx"), "--quiet")
    import onnx
    proto = onnx.load(str(tmp_path / "dlib.onnx"))
    onnx.checker.check_model(proto)
    meta = json.loads({p.key: p.value for p in proto.metadata_props}["toonreid"])
    assert meta["input"]["mean"] == model.meta["input"]["mean"]
    with pytest.raises(AssertionError, match="unknown --format|format"):
        run("export", "--config", DEMO, "--format", "tflite", "--out", str(tmp_path / "x.bin"))
