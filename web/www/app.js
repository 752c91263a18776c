// The page: reads files or fetches the sample set, trains in a worker
// (worker.js: the WebAssembly module off the main thread, so the page answers
// while a run computes), draws the curves, and classifies a drawn digit with the
// latest epoch's model (a Session on this thread). Opened with ?autorun=1 it trains
// as the query says and writes one JSON object into <pre id="result"> (the
// automated test's hook).
import init, { Session } from "./pkg/gpu_mlp_web.js";

const $ = (id) => document.getElementById(id);
const IDX = ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
             "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"];
// The model at hand (the latest epoch's, or one loaded) for the pad and downloads.
let viewer;
let history = [];
// The class names of the data or model at hand (null: classes by index); text
// from files, so it is only ever inserted as text.
let classNames = null;
// The sample set's IDX files carry no names; these are Fashion-MNIST's.
const SAMPLE = "data/";
const FASHION = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                 "Sneaker", "Bag", "Ankle boot"];
const className = (c) => (classNames && classNames[c] != null ? classNames[c] : String(c));

// The worker's session, called by method name; what was loaded into it is kept so
// that a worker stopped by force is replaced by one holding the same data.
class Trainer {
  constructor() {
    // Where the page is cross-origin isolated, Stop is a shared flag the run reads
    // between steps (it keeps its model); elsewhere it ends the worker.
    this.flag = self.crossOriginIsolated ? new Int32Array(new SharedArrayBuffer(4)) : null;
    this.loads = [];
    this.start();
  }
  start() {
    this.worker = new Worker("worker.js", { type: "module" });
    this.pending = new Map();
    this.next = 0;
    if (this.flag) this.worker.postMessage({ type: "stop-flag", flag: this.flag });
    this.worker.onmessage = (e) => {
      const m = e.data;
      if (m.type === "epoch") return this.onEpoch && this.onEpoch(m.line, m.model);
      if (m.type === "batch") return this.onBatch && this.onBatch(m.epoch, m.done, m.total);
      const p = this.pending.get(m.id);
      this.pending.delete(m.id);
      if (m.error != null) p.reject(new Error(m.error)); else p.resolve(m.result);
    };
    this.worker.onerror = (e) => this.failAll(new Error(e.message || "the training worker failed"));
  }
  failAll(error) {
    for (const p of this.pending.values()) p.reject(error);
    this.pending.clear();
  }
  call(method, ...args) {
    return new Promise((resolve, reject) => {
      const id = this.next++;
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ id, method, args });
    });
  }
  // Data calls are replayed into a replacement worker.
  async load(method, ...args) {
    if (method !== "limit") this.loads = [];
    this.loads.push([method, args]);
    return this.call(method, ...args);
  }
  async train(settings, onEpoch, onBatch) {
    this.onEpoch = onEpoch; this.onBatch = onBatch;
    if (this.flag) Atomics.store(this.flag, 0, 0);
    try { return JSON.parse(await this.call("train", JSON.stringify(settings))); }
    finally { this.onEpoch = this.onBatch = null; }
  }
  // Stops a run mid-epoch: gracefully where the flag exists (the run returns with
  // its model), else by replacing the worker (the last complete epoch's model,
  // which the page holds, is what is kept).
  async stop() {
    if (this.flag) { Atomics.store(this.flag, 0, 1); return; }
    this.worker.terminate();
    this.failAll(new Error("stopped"));
    this.start();
    // Posted at once, in order: a call made after Stop (a new Train) finds the data.
    await Promise.all(this.loads.map(([method, args]) => this.call(method, ...args)));
  }
}
let trainer;

function log(line) { $("log").textContent += line + "\n"; }
function status(text, error) {
  $("data-status").textContent = text;
  $("data-status").className = error ? "error" : "";
}

async function fetchBytes(url) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  return new Uint8Array(await response.arrayBuffer());
}

// The four IDX files under a base URL, or an .npz at a URL, as [method, ...args].
async function fromUrl(url) {
  if (url.endsWith(".npz")) return ["load_npz", url, await fetchBytes(url)];
  const base = url.endsWith("/") ? url : url + "/";
  return ["load_idx", ...await Promise.all(IDX.map((name) => fetchBytes(base + name)))];
}

async function fromFiles(list) {
  const files = [...list];
  const npz = files.find((f) => f.name.endsWith(".npz"));
  if (npz) return ["load_npz", npz.name, new Uint8Array(await npz.arrayBuffer())];
  const pick = (stem) => files.find((f) => f.name.startsWith(stem));
  const wanted = ["train-images", "train-labels", "t10k-images", "t10k-labels"].map(pick);
  if (wanted.some((f) => !f)) throw new Error("pick the four IDX files (train-images, train-labels, t10k-images, t10k-labels) or one .npz");
  return ["load_idx", ...await Promise.all(wanted.map(async (f) => new Uint8Array(await f.arrayBuffer())))];
}

// Loads data into the trainer, limited to the form's count, and says what it is.
async function loadData(call, sample) {
  let s = JSON.parse(await trainer.load(...call));
  const n = Number($("train-limit").value) || 0;
  if (n > 0 && n < s.train) s = JSON.parse(await trainer.load("limit", n, 0));
  classNames = s.class_names || (sample ? FASHION : null);
  const what = sample ? "Fashion-MNIST, gray photos of clothing: " : "";
  const names = classNames ? ` (${classNames.join(", ")})` : "";
  status(`${what}${s.train} training and ${s.test} test examples, ${s.rows}×${s.cols}, ${s.classes} classes${names}`);
  return s;
}

function settings() {
  return {
    hidden: $("hidden").value.split(",").map(Number).filter((n) => n > 0),
    activation: $("activation").value,
    optimizer: $("optimizer").value,
    lr: Number($("lr").value),
    batch_size: Number($("batch").value),
    epochs: Number($("epochs").value),
    seed: Number($("seed").value),
    backend: $("backend").value,
  };
}

function epochLine(r) {
  const pct = (a) => (100 * a).toFixed(2).padStart(6) + "%";
  let line = `epoch ${r.epoch}  train ${r.train_loss.toFixed(4)} ${pct(r.train_accuracy)}`;
  if (r.test_loss != null) line += `  test ${r.test_loss.toFixed(4)} ${pct(r.test_accuracy)}`;
  return line + `  ${r.seconds.toFixed(2)} s`;
}

// Two panels, loss and accuracy, each with its axes, ticks and values; train and
// test share a panel's scale (loss from 0, accuracy from 0 to 100 %).
function drawChart() {
  const c = $("chart"), g = c.getContext("2d");
  g.clearRect(0, 0, c.width, c.height);
  if (history.length === 0) return;
  const half = c.width / 2;
  const losses = history.flatMap((r) => [r.train_loss, r.test_loss]).filter((v) => v != null);
  panel(g, 0, half, "loss", niceMax(Math.max(...losses)), (v) => v.toPrecision(2),
        [["train", (r) => r.train_loss], ["test", (r) => r.test_loss]], (v) => v.toFixed(3));
  panel(g, half, half, "accuracy", 1, (v) => `${Math.round(100 * v)}%`,
        [["train", (r) => r.train_accuracy], ["test", (r) => r.test_accuracy]],
        (v) => `${(100 * v).toFixed(1)}%`);
}

// The smallest of 1, 2 or 5 × 10^k at or above v.
function niceMax(v) {
  if (!(v > 0)) return 1;
  const step = 10 ** Math.floor(Math.log10(v));
  return [1, 2, 5, 10].map((m) => m * step).find((m) => m >= v);
}

// `label` writes a tick's value, `exact` the legend's latest value.
function panel(g, left, width, title, top, label, series, exact) {
  const h = g.canvas.height, pad = { l: 46, r: 12, t: 22, b: 28 };
  const x0 = left + pad.l, x1 = left + width - pad.r, y0 = h - pad.b, y1 = pad.t;
  const n = history.length;
  const x = (i) => (n === 1 ? (x0 + x1) / 2 : x0 + (i / (n - 1)) * (x1 - x0));
  const y = (v) => y0 - (v / top) * (y0 - y1);
  g.font = "11px sans-serif"; g.lineWidth = 1;
  g.strokeStyle = "#999"; g.fillStyle = "#444";
  g.beginPath(); g.moveTo(x0, y1); g.lineTo(x0, y0); g.lineTo(x1, y0); g.stroke();
  g.textAlign = "right"; g.textBaseline = "middle";
  for (let k = 0; k <= 4; k++) {
    const v = (top * k) / 4;
    g.fillText(label(v), x0 - 4, y(v));
    g.strokeStyle = "#eee"; g.beginPath(); g.moveTo(x0 + 1, y(v)); g.lineTo(x1, y(v)); g.stroke();
  }
  g.textAlign = "center"; g.textBaseline = "top";
  const every = Math.ceil(n / 8);
  history.forEach((r, i) => { if (i % every === 0 || i === n - 1) g.fillText(String(r.epoch), x(i), y0 + 4); });
  g.fillText("epoch", (x0 + x1) / 2, y0 + 15);
  const colors = { train: "#c33", test: "#36c" };
  let legend = x0 + 4;
  g.textAlign = "left"; g.textBaseline = "alphabetic";
  g.fillStyle = "#222"; g.fillText(title, x0, 13); legend += g.measureText(title).width + 12;
  for (const [name, get] of series) {
    const points = history.map((r, i) => [i, get(r)]).filter(([, v]) => v != null);
    if (points.length === 0) continue;
    g.strokeStyle = g.fillStyle = colors[name]; g.lineWidth = 2;
    g.beginPath();
    points.forEach(([i, v], k) => (k ? g.lineTo(x(i), y(v)) : g.moveTo(x(i), y(v))));
    g.stroke();
    points.forEach(([i, v]) => g.fillRect(x(i) - 2, y(v) - 2, 4, 4));
    const last = points[points.length - 1][1];
    const text = `${name} ${exact(last)}`;
    g.fillText(text, legend, 13); legend += g.measureText(text).width + 12;
  }
}

// "auto", as the command line's default device: a hardware GPU through WebGPU, else
// the CPU path (a software adapter such as SwiftShader is several times slower than
// the WebAssembly CPU path: benches/README.md).
async function chooseBackend(wanted) {
  if (wanted !== "auto") return wanted;
  const adapter = navigator.gpu && await navigator.gpu.requestAdapter();
  const info = (adapter && adapter.info) || {};
  const software = !adapter || info.isFallbackAdapter || /swiftshader|llvmpipe|lavapipe/i.test(`${info.vendor} ${info.architecture} ${info.description}`);
  if (software) log(`${adapter ? "only a software WebGPU adapter" : "no WebGPU"} here: training on the CPU path (WebAssembly), which is faster`);
  return software ? "cpu" : "webgpu";
}

// The form as `s` says (what autorun's query chose), so it shows what trained.
function showSettings(s) {
  $("hidden").value = s.hidden.join(",");
  for (const key of ["activation", "optimizer", "lr", "epochs", "seed"]) $(key).value = s[key];
  $("batch").value = s.batch_size;
  $("backend").value = s.backend;
}

// Keeps `bytes` (a checkpoint) as the model at hand.
function keepModel(bytes) {
  viewer.load_checkpoint("model.safetensors", bytes);
  $("download").disabled = false;
}

async function train(overrides = {}) {
  history = []; $("log").textContent = ""; drawChart();
  const s = { ...settings(), ...overrides };
  showSettings(s);
  s.backend = await chooseBackend(s.backend);
  if (s.backend === "webgpu" && !navigator.gpu) {
    log("this browser has no WebGPU: training on the CPU path (WebAssembly)");
    s.backend = "cpu";
  }
  $("train").disabled = true; $("stop").disabled = false;
  const onEpoch = (line, model) => {
    const r = JSON.parse(line);
    history.push(r); log(epochLine(r)); drawChart();
    if (model) keepModel(model);
    $("progress").textContent = "";
  };
  const onBatch = (epoch, done, total) => { $("progress").textContent = `epoch ${epoch}: batch ${done} of ${total}`; };
  try {
    const summary = await trainer.train(s, onEpoch, onBatch);
    $("adapter").textContent = summary.adapter;
    if (summary.stopped) {
      keepModel(await trainer.call("checkpoint"));
      log(`stopped mid-epoch: the model as it stands is kept (${history.length} complete epochs)`);
    } else {
      log(`test accuracy ${(100 * summary.test_accuracy).toFixed(2)}% on ${summary.adapter}`);
    }
    summary.epochs_done = history.length;
    return summary;
  } catch (e) {
    if (e.message !== "stopped") throw e;
    log(`stopped: the model of the last complete epoch (${history.length}) is kept`);
    return { stopped: true, epochs_done: history.length, backend: s.backend };
  } finally {
    $("train").disabled = false; $("stop").disabled = true; $("progress").textContent = "";
  }
}

// The drawing pad: white strokes on black, as MNIST, read back at 28×28.
function setUpPad() {
  const pad = $("pad"), g = pad.getContext("2d");
  g.lineWidth = 22; g.lineCap = "round"; g.strokeStyle = "#fff";
  let down = false;
  const at = (e) => { const r = pad.getBoundingClientRect(); return [e.clientX - r.left, e.clientY - r.top]; };
  pad.onpointerdown = (e) => { down = true; g.beginPath(); g.moveTo(...at(e)); };
  pad.onpointermove = (e) => { if (down) { g.lineTo(...at(e)); g.stroke(); } };
  pad.onpointerup = () => { down = false; classify(); };
  $("clear").onclick = () => { g.fillStyle = "#000"; g.fillRect(0, 0, pad.width, pad.height); $("probs").textContent = ""; };
  $("clear").onclick();
}

function classify() {
  const small = document.createElement("canvas");
  small.width = small.height = 28;
  const g = small.getContext("2d");
  g.drawImage($("pad"), 0, 0, 28, 28);
  const rgba = g.getImageData(0, 0, 28, 28).data;
  const pixels = new Uint8Array(784).map((_, i) => rgba[4 * i]);
  try {
    const probs = [...viewer.predict(pixels)];
    const bars = probs.map((p, c) => [p, c]).sort((a, b) => b[0] - a[0]).slice(0, 3).map(([p, c]) => {
      const row = document.createElement("div"), bar = document.createElement("span");
      row.className = "bar-row";
      bar.className = "bar";
      bar.style.width = `${Math.max(2, 240 * p)}px`;
      row.append(bar, `${className(c)}: ${(100 * p).toFixed(1)}%`);
      return row;
    });
    $("probs").replaceChildren(...bars);
    return probs;
  } catch (e) { $("probs").textContent = String(e.message || e); }
}

// A stroke as a hand would draw it (a thick vertical bar), through the pad's own path.
function drawTestStroke() {
  const g = $("pad").getContext("2d");
  g.beginPath(); g.moveTo(140, 40); g.lineTo(140, 240); g.stroke();
  return classify();
}

function base64(bytes) {
  let text = "";
  for (let i = 0; i < bytes.length; i += 0x8000) text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(text);
}

// How long the page's event loop goes unanswered: a timer every 10 ms, and the
// longest gap between two of its turns (what a click would wait).
function watchResponsiveness() {
  const gaps = { max: 0, over100: 0, turns: 0, on: true };
  let last = performance.now();
  const tick = () => {
    const now = performance.now(), gap = now - last;
    last = now; gaps.turns++;
    gaps.max = Math.max(gaps.max, gap);
    if (gap > 100) gaps.over100++;
    if (gaps.on) setTimeout(tick, 10);
  };
  setTimeout(tick, 10);
  return gaps;
}

async function autorun(q) {
  const result = $("result");
  try {
    const url = q.get("data") || SAMPLE;
    const bars = () => [...$("probs").children].map((e) => e.textContent);
    if (q.has("model")) {
      // A checkpoint the command line wrote: load it and classify one test image.
      const call = await fromUrl(url);
      viewer[call[0]](...call.slice(1));
      const name = q.get("model");
      classNames = JSON.parse(viewer.load_checkpoint(name, await fetchBytes(name))).class_names;
      const probabilities = [...viewer.predict(viewer.test_example(Number(q.get("index") || 0)))];
      const predicted = probabilities.indexOf(Math.max(...probabilities));
      drawTestStroke();
      result.textContent = JSON.stringify({ predicted, probabilities, bars: bars() });
      return;
    }
    if (q.has("train-limit")) $("train-limit").value = q.get("train-limit");
    await loadData(await fromUrl(url), url === SAMPLE);
    if (q.has("test-limit")) await trainer.load("limit", Number(q.get("train-limit") || 0), Number(q.get("test-limit")));
    const overrides = { backend: q.get("backend") || "auto" };
    for (const key of ["epochs", "seed", "batch_size", "lr"]) if (q.has(key)) overrides[key] = Number(q.get(key));
    for (const key of ["activation", "optimizer"]) if (q.has(key)) overrides[key] = q.get(key);
    // stop=1: press Stop once the second epoch is under way (mid-epoch).
    if (q.get("stop") === "1") {
      const watch = setInterval(() => {
        if (history.length >= 1 && /^epoch 2: batch/.test($("progress").textContent)) { clearInterval(watch); $("stop").click(); }
      }, 5);
    }
    const gaps = watchResponsiveness();
    const summary = await train(overrides);
    gaps.on = false;
    summary.responsiveness = { max_gap_ms: gaps.max, gaps_over_100ms: gaps.over100, turns: gaps.turns };
    summary.isolated = self.crossOriginIsolated;
    if (q.get("draw") === "1") { summary.drawn = drawTestStroke(); summary.bars = bars(); }
    summary.checkpoint_b64 = base64(viewer.checkpoint());
    result.textContent = JSON.stringify(summary);
  } catch (e) {
    result.textContent = JSON.stringify({ error: String(e.message || e) });
  }
}

async function main() {
  await init();
  viewer = new Session();
  trainer = new Trainer();
  setUpPad();
  // Each control's errors are shown beside it (as text).
  const run = (f, where) => async () => {
    $(where).textContent = ""; $(where).className = "";
    try { await f(); } catch (e) { $(where).textContent = String(e.message || e); $(where).className = "error"; }
  };
  $("files").onchange = run(async () => loadData(await fromFiles($("files").files), false), "data-status");
  $("sample").onclick = run(async () => loadData(await fromUrl(SAMPLE), true), "data-status");
  $("train").onclick = run(() => train(), "train-status");
  $("stop").onclick = run(() => trainer.stop(), "train-status");
  $("download").onclick = () => {
    const blob = new Blob([viewer.checkpoint()], { type: "application/octet-stream" });
    const a = document.createElement("a");
    a.href = URL.createObjectURL(blob); a.download = "model.safetensors"; a.click();
  };
  $("checkpoint").onchange = run(async () => {
    const f = $("checkpoint").files[0];
    const s = JSON.parse(viewer.load_checkpoint(f.name, new Uint8Array(await f.arrayBuffer())));
    classNames = s.class_names;
    $("download").disabled = false;
    log(`loaded ${f.name}: ${s.layers}`);
  }, "checkpoint-status");
  const q = new URLSearchParams(location.search);
  if (q.get("autorun") === "1") await autorun(q);
}

main().catch((e) => { $("result").textContent = JSON.stringify({ error: String(e.message || e) }); });
