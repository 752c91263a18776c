// The page's trainer: the WebAssembly module and a Session in a worker, so that a
// run (the CPU path computes in WebAssembly without yielding) never holds the
// page. Messages: {id, method, args} calls a Session method and answers {id,
// result} or {id, error}; "train" also posts {type: "epoch", line, model} after
// each epoch and {type: "batch", epoch, done, total} within epochs. {type:
// "stop-flag", flag} hands over a shared Int32Array: a 1 in it stops the run after
// the current step, keeping its model (where the page is cross-origin isolated).
import init, { Session } from "./pkg/gpu_mlp_web.js";

const ready = init().then(() => new Session());
let stopFlag = null;

self.onmessage = async (e) => {
  const m = e.data;
  if (m.type === "stop-flag") { stopFlag = m.flag; return; }
  const session = await ready;
  try {
    let result;
    if (m.method === "train") {
      const onEpoch = (line, model) => {
        const bytes = model ? new Uint8Array(model) : null;
        self.postMessage({ type: "epoch", line, model: bytes }, bytes ? [bytes.buffer] : []);
      };
      const onBatch = (epoch, done, total) => {
        self.postMessage({ type: "batch", epoch, done, total });
        return !(stopFlag && Atomics.load(stopFlag, 0) === 1);
      };
      result = await session.train(m.args[0], onEpoch, onBatch);
    } else {
      result = session[m.method](...m.args);
    }
    self.postMessage({ id: m.id, result });
  } catch (err) {
    self.postMessage({ id: m.id, error: String((err && err.message) || err) });
  }
};
