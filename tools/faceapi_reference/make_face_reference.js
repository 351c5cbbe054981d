// Regenerates tests/fixtures/faceapi/faces/reference.json: what face-api's SSD MobileNet v1
// face detector and 68-point landmark net compute for the PNG images in that folder.
// toonreid's ports must reproduce them (tests/face/test_face_nets.cpp).
//
//   cd tools/faceapi_reference && npm install && node make_face_reference.js
//
// Runs offline on the tfjs WASM backend. For each image it records: the ten anchors
// with the highest raw face score (index, score, box), the detections of
// locateFaces (minConfidence 0.3), and the landmarks of the face crop face-api takes for
// the best detection (or of the whole image when nothing is found), in crop pixels.
const fs = require('fs');
const path = require('path');
const { PNG } = require('pngjs');
require('@tensorflow/tfjs');
require('@tensorflow/tfjs-backend-wasm');
const faceapi = require('@vladmandic/face-api/dist/face-api.node-wasm.js');

const DIR = path.join(__dirname, '..', '..', 'tests', 'data', 'faceapi', 'faces');

async function loadNet(net, dir, name) {
  const manifest = JSON.parse(fs.readFileSync(dir + name + '-weights_manifest.json'));
  const bin = fs.readFileSync(dir + name + '.bin');
  const weights = faceapi.tf.io.decodeWeights(bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.byteLength), manifest[0].weights);
  await net.loadFromWeightMap(weights);
}

function readPng(file) {
  const png = PNG.sync.read(fs.readFileSync(file));
  const rgb = new Float32Array(png.width * png.height * 3);
  for (let i = 0; i < png.width * png.height; i++) for (let c = 0; c < 3; c++) rgb[3 * i + c] = png.data[4 * i + c];
  return faceapi.tf.tensor3d(rgb, [png.height, png.width, 3]);
}

(async () => {
  await faceapi.tf.setBackend('wasm');
  await faceapi.tf.ready();
  const dir = path.dirname(require.resolve('@vladmandic/face-api/package.json')) + '/model/';
  await loadNet(faceapi.nets.ssdMobilenetv1, dir, 'ssd_mobilenetv1_model');
  await loadNet(faceapi.nets.faceLandmark68Net, dir, 'face_landmark_68_model');

  const reference = { generator: 'tools/faceapi_reference/make_face_reference.js', faceapi: '1.7.15', backend: faceapi.tf.getBackend(), images: [] };
  const files = fs.readdirSync(DIR).filter((f) => f.endsWith('.png')).sort();
  for (const file of files) {
    const img = readPng(path.join(DIR, file));
    const [height, width] = img.shape;
    const netInput = await faceapi.toNetInput(img);
    const { boxes, scores } = faceapi.nets.ssdMobilenetv1.forwardInput(netInput);
    const s = Array.from(scores[0].dataSync());
    const b = boxes[0].arraySync();
    const top = s.map((score, index) => ({ index, score })).sort((p, q) => q.score - p.score).slice(0, 10)
      .map(({ index, score }) => ({ index, score, box: b[index] }));
    boxes.forEach((t) => t.dispose());
    scores.forEach((t) => t.dispose());

    const detections = await faceapi.nets.ssdMobilenetv1.locateFaces(img, { minConfidence: 0.3 });
    const dets = detections.map((d) => ({ score: d.score, x: d.box.x, y: d.box.y, width: d.box.width, height: d.box.height }));
    const region = detections.length ? detections[0].box : new faceapi.Rect(0, 0, width, height);
    const [crop] = await faceapi.extractFaceTensors(img, [region]);
    const clipped = region.clipAtImageBorders(width, height);
    const lm = await faceapi.nets.faceLandmark68Net.detectLandmarks(crop);
    crop.dispose();
    img.dispose();
    reference.images.push({
      file, width, height, top_anchors: top, detections: dets,
      crop: { x: clipped.x, y: clipped.y, width: clipped.width, height: clipped.height },
      landmarks: lm.positions.map((p) => [p.x, p.y]),
    });
    console.log(`${file}: ${dets.length} faces${dets.length ? ` (best ${dets[0].score.toFixed(3)})` : ''}`);
  }
  fs.writeFileSync(path.join(DIR, 'reference.json'), JSON.stringify(reference, null, 1) + '\n');
  console.log(`wrote ${reference.images.length} references to ${DIR}`);
})();
