// Regenerates tests/fixtures/faceapi/: a few small synthetic 150x150 PNG images and the
// 128-d descriptors that face-api's FaceRecognitionNet (dlib's ResNet) computes for
// them. toonreid's dlib_resnet import must reproduce these (tests/model/test_dlib_resnet.cpp).
//
//   cd tools/faceapi_reference && npm install && node make_reference.js
//
// Runs offline on the tfjs WASM backend (tfjs-node would need a binary download).
const fs = require('fs');
const path = require('path');
const { PNG } = require('pngjs');
require('@tensorflow/tfjs');
require('@tensorflow/tfjs-backend-wasm');
const faceapi = require('@vladmandic/face-api/dist/face-api.node-wasm.js');

const SIZE = 150;
const OUT = path.join(__dirname, '..', '..', 'tests', 'data', 'faceapi');

// Deterministic pseudo-random numbers (LCG), so the images never change.
function lcg(seed) {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 4294967296);
}

// A few simple pictures: grey, a gradient, noise, and a crude face.
function makeImages() {
  const images = [];
  const put = (buf, x, y, r, g, b) => { const i = 4 * (y * SIZE + x); buf[i] = r; buf[i + 1] = g; buf[i + 2] = b; buf[i + 3] = 255; };
  const blank = () => Buffer.alloc(SIZE * SIZE * 4);
  let img = blank();
  for (let y = 0; y < SIZE; y++) for (let x = 0; x < SIZE; x++) put(img, x, y, 128, 128, 128);
  images.push(['grey.png', img]);
  img = blank();
  for (let y = 0; y < SIZE; y++) for (let x = 0; x < SIZE; x++) put(img, x, y, (x * 255) / SIZE | 0, (y * 255) / SIZE | 0, ((x + y) * 127) / SIZE | 0);
  images.push(['gradient.png', img]);
  img = blank();
  const rnd = lcg(7);
  for (let y = 0; y < SIZE; y++) for (let x = 0; x < SIZE; x++) put(img, x, y, rnd() * 256 | 0, rnd() * 256 | 0, rnd() * 256 | 0);
  images.push(['noise.png', img]);
  img = blank();
  const inEllipse = (x, y, cx, cy, rx, ry) => ((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2 <= 1;
  for (let y = 0; y < SIZE; y++) {
    for (let x = 0; x < SIZE; x++) {
      let c = [70, 110, 160];                                                    // background
      if (inEllipse(x, y, 75, 80, 45, 58)) c = [224, 176, 140];                  // face
      if (y < 45 && inEllipse(x, y, 75, 60, 50, 45)) c = [60, 40, 30];           // hair
      if (inEllipse(x, y, 57, 72, 8, 5) || inEllipse(x, y, 93, 72, 8, 5)) c = [250, 250, 250];
      if (inEllipse(x, y, 57, 72, 3, 3) || inEllipse(x, y, 93, 72, 3, 3)) c = [30, 20, 10];
      if (inEllipse(x, y, 75, 112, 16, 5)) c = [170, 60, 60];                    // mouth
      put(img, x, y, c[0], c[1], c[2]);
    }
  }
  images.push(['face.png', img]);
  return images;
}

(async () => {
  await faceapi.tf.setBackend('wasm');
  await faceapi.tf.ready();
  const dir = path.dirname(require.resolve('@vladmandic/face-api/package.json')) + '/model/';
  const manifest = JSON.parse(fs.readFileSync(dir + 'face_recognition_model-weights_manifest.json'));
  const bin = fs.readFileSync(dir + 'face_recognition_model.bin');
  const weights = faceapi.tf.io.decodeWeights(bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.byteLength), manifest[0].weights);
  await faceapi.nets.faceRecognitionNet.loadFromWeightMap(weights);

  fs.mkdirSync(OUT, { recursive: true });
  const reference = { generator: 'tools/faceapi_reference/make_reference.js', faceapi: '1.7.15', backend: faceapi.tf.getBackend(), images: [] };
  for (const [name, rgba] of makeImages()) {
    const png = new PNG({ width: SIZE, height: SIZE });
    rgba.copy(png.data);
    fs.writeFileSync(path.join(OUT, name), PNG.sync.write(png));
    const rgb = new Float32Array(SIZE * SIZE * 3);
    for (let i = 0; i < SIZE * SIZE; i++) for (let c = 0; c < 3; c++) rgb[3 * i + c] = rgba[4 * i + c];
    const input = faceapi.tf.tensor3d(rgb, [SIZE, SIZE, 3]);
    const d = await faceapi.nets.faceRecognitionNet.computeFaceDescriptor(input);
    input.dispose();
    reference.images.push({ file: name, descriptor: Array.from(d) });
  }
  fs.writeFileSync(path.join(OUT, 'reference.json'), JSON.stringify(reference, null, 1) + '\n');
  console.log(`wrote ${reference.images.length} images and descriptors to ${OUT} (backend ${reference.backend})`);
})();
