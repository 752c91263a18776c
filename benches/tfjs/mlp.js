// The browser peer: the page's network (784-128-10 sigmoid, softmax cross-entropy,
// SGD, batch 100) trained by TensorFlow.js on one backend, in its fastest idiomatic
// form (a custom loop: batches built in JS, optimizer.minimize). Each epoch ends with
// a read-back, so its time includes all device work. Writes one JSON object into
// #result. Query: backend=wasm|webgl|webgpu|cpu, epochs, train-limit, data (the IDX
// directory, default ../../web/www/data/), lr, batch.
const q = new URLSearchParams(location.search);
const result = document.getElementById("result");

async function gunzip(url) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  const stream = response.body.pipeThrough(new DecompressionStream("gzip"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

// The elements of an IDX file of u8 (magic 0x0803 or 0x0801): after 4 + 4·ndims bytes.
function idx(bytes) { return bytes.subarray(4 + 4 * bytes[3]); }

async function main() {
  const backend = q.get("backend") || "wasm";
  const epochs = Number(q.get("epochs") || 3), limit = Number(q.get("train-limit") || 10000);
  const lr = Number(q.get("lr") || 0.1), batch = Number(q.get("batch") || 100);
  const base = q.get("data") || "../../web/www/data/";
  if (backend === "wasm") tf.wasm.setWasmPaths("node_modules/@tensorflow/tfjs-backend-wasm/dist/");
  await tf.setBackend(backend);
  await tf.ready();
  const names = ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"];
  const [xi, yi, xt, yt] = (await Promise.all(names.map((n) => gunzip(base + n)))).map(idx);
  const n = Math.min(limit, yi.length);
  const trainX = Float32Array.from(xi.subarray(0, n * 784), (b) => b / 255);
  const trainY = yi.subarray(0, n);

  const model = tf.sequential({ layers: [
    tf.layers.dense({ inputShape: [784], units: 128, activation: "sigmoid" }),
    tf.layers.dense({ units: 10 }),
  ] });
  const optimizer = tf.train.sgd(lr);
  let seed = 1;
  const random = () => ((seed = (seed * 1664525 + 1013904223) >>> 0) / 2 ** 32);
  const order = Array.from({ length: n }, (_, i) => i);
  const seconds = [];
  for (let epoch = 0; epoch < epochs; epoch++) {
    for (let i = n - 1; i > 0; i--) { const j = Math.floor(random() * (i + 1)); [order[i], order[j]] = [order[j], order[i]]; }
    const started = performance.now();
    let last;
    for (let start = 0; start < n; start += batch) {
      const rows = order.slice(start, start + batch);
      const x = new Float32Array(rows.length * 784);
      rows.forEach((r, k) => x.set(trainX.subarray(r * 784, r * 784 + 784), k * 784));
      const xs = tf.tensor2d(x, [rows.length, 784]);
      const ys = tf.oneHot(tf.tensor1d(rows.map((r) => trainY[r]), "int32"), 10);
      if (last) last.dispose();
      last = optimizer.minimize(() => tf.losses.softmaxCrossEntropy(ys, model.apply(xs)), true);
      xs.dispose(); ys.dispose();
    }
    await last.data();
    last.dispose();
    seconds.push((performance.now() - started) / 1000);
  }
  const testX = tf.tensor2d(Float32Array.from(xt, (b) => b / 255), [yt.length, 784]);
  const predicted = await model.predict(testX).argMax(-1).data();
  const correct = predicted.reduce((c, p, i) => c + (p === yt[i] ? 1 : 0), 0);
  result.textContent = JSON.stringify({ backend, seconds, test_accuracy: correct / yt.length });
}

main().catch((e) => { result.textContent = JSON.stringify({ error: String(e.message || e) }); });
