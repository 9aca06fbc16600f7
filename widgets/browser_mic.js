// rmlab BrowserMic: the browser's microphone streamed into a Python session.
//
// Start is a click, so the AudioContext may run under the autoplay policy. It asks for
// the microphone, then builds MediaStreamSource -> AudioWorkletNode -> destination (the
// worklet writes nothing, so the page stays silent; it must be connected or Chromium
// never runs it). The worklet packs 128-sample render quanta into `frame_size`-sample
// Float32Arrays and transfers each to this thread, which forwards it to the kernel as a
// binary comm buffer:
//
//   model.send({type: "frame", run, seq, t, rate}, undefined, [buffer])
//
// `run` counts Start presses and `seq` counts frames within a run, so the kernel can
// tell a lost frame from a restart. `t` is the capture time of the frame's first sample
// in UNIX-epoch milliseconds, taken from the audio clock (see `stamp`) so main-thread
// jitter does not reach the timestamps. Everything the user must know (permission
// denied, no device, insecure page) is shown in the widget and mirrored to `error`.
//
// Python prepends audio_common.js (el_, epochMs, userError, audioControls, loadWorklet,
// renderView), so the widget ships as one self-contained module.

const WORKLET = `
class RmCapture extends AudioWorkletProcessor {
  constructor(options) {
    super();
    this.size = options.processorOptions.frameSize;
    this.next();
    this.start = 0;  // index of buf[0] in samples since capture began
  }
  next() {
    this.buf = new Float32Array(this.size);
    this.fill = 0;
    this.sumsq = 0;
  }
  process(inputs) {
    const x = inputs[0] && inputs[0][0];
    if (!x) return true;  // the source is not connected yet
    for (let off = 0; off < x.length; ) {
      const k = Math.min(x.length - off, this.size - this.fill);
      for (let i = off; i < off + k; i++) this.sumsq += x[i] * x[i];
      this.buf.set(x.subarray(off, off + k), this.fill);
      this.fill += k;
      off += k;
      if (this.fill === this.size) {
        const rms = Math.sqrt(this.sumsq / this.size);
        const buffer = this.buf.buffer;
        this.port.postMessage({ buffer, start: this.start, rms }, [buffer]);
        this.start += this.size;
        this.next();
      }
    }
    return true;
  }
}
registerProcessor("rm-capture", RmCapture);
`;

const DENIED =
  "Permission to use the microphone was denied. " +
  "Allow it in the browser's site settings, then press Start again.";
const MESSAGES = {
  NotAllowedError: DENIED,
  SecurityError: DENIED,
  NotFoundError:
    "No microphone was found. " +
    "Connect one (or pick one in the browser's settings), then press Start again.",
  OverconstrainedError:
    "No microphone was found that can deliver mono audio. " +
    "Connect another one, then press Start again.",
  NotReadableError: "The microphone could not be opened: another application may be using it.",
};

function explain(err) {
  if (err && err.name === "RmlabError") return err.message;
  if (err && MESSAGES[err.name]) return MESSAGES[err.name];
  return `Could not start the microphone: ${err && err.name ? `${err.name}: ${err.message}` : err}`;
}

function insecureMessage() {
  return (
    `The microphone needs a secure page (https, localhost or 127.0.0.1), and this page is ` +
    `${location.origin}. Open the notebook through https or an SSH tunnel to localhost.`
  );
}

class Capture {
  // One microphone capture: its stream, audio graph and frame numbering.
  constructor(model, view, run) {
    this.model = model;
    this.view = view;
    this.run = run;
    this.seq = 0;
    this.anchor = null;
  }

  async open() {
    if (!window.isSecureContext || !navigator.mediaDevices?.getUserMedia) {
      throw userError(insecureMessage());
    }
    const size = this.model.get("frame_size");
    this.stream = await navigator.mediaDevices.getUserMedia({
      audio: { echoCancellation: false, noiseSuppression: false, autoGainControl: false },
    });
    this.ctx = new AudioContext({ sampleRate: this.model.get("requested_rate") });
    await loadWorklet(this.ctx, WORKLET);
    this.rate = this.ctx.sampleRate;
    this.size = size;
    this.source = this.ctx.createMediaStreamSource(this.stream);
    // channelCount 1 "explicit": the browser mixes a stereo device down to mono for us
    this.node = new AudioWorkletNode(this.ctx, "rm-capture", {
      numberOfInputs: 1,
      numberOfOutputs: 1,
      channelCount: 1,
      channelCountMode: "explicit",
      processorOptions: { frameSize: size },
    });
    this.node.port.onmessage = (e) => this.frame(e.data);
    this.source.connect(this.node).connect(this.ctx.destination);
    await this.ctx.resume();
  }

  stamp(start) {
    // Epoch ms of sample `start`. If frames arrived the instant their last sample was
    // captured, sample 0 was captured at now - (start + size) / rate. Delivery is only
    // ever late, so the smallest estimate is the best: keep the minimum, and let it
    // creep up (2.5 ms/s) so a drift between the audio and system clocks is followed.
    const perSample = 1000 / this.rate;
    const estimate = epochMs() - (start + this.size) * perSample;
    this.anchor = this.anchor === null ? estimate : Math.min(estimate, this.anchor + 0.05);
    return this.anchor + start * perSample;
  }

  frame({ buffer, start, rms }) {
    if (this.closed) return;
    const t = this.stamp(start);
    this.model.send(
      { type: "frame", run: this.run, seq: this.seq++, t, rate: this.rate },
      undefined,
      [buffer],
    );
    this.view.onFrame(rms);
  }

  async close() {
    this.closed = true;
    this.stream?.getTracks().forEach((track) => track.stop());
    try {
      this.source?.disconnect();
      this.node?.disconnect();
      if (this.ctx && this.ctx.state !== "closed") await this.ctx.close();
    } catch (err) {
      console.warn("[rmlab] closing the microphone:", err);
    }
  }
}

const CLAIMED = new Set(); // tokens of kernel Start messages a view of this page took

function claim(token) {
  if (typeof token !== "string" || CLAIMED.has(token)) return false;
  CLAIMED.add(token);
  return true;
}

class MicView {
  constructor(model, el) {
    this.model = model;
    Object.assign(this, audioControls(el, "mic", "rm-mic-level", "input level (RMS dBFS)"));
    this.capture = null;
    this.frames = 0;
    this.start.addEventListener("click", () => this.begin());
    this.stop.addEventListener("click", () => this.end("stopped"));
    this.onModelChange = () => this.show();
    this.onCustom = (msg) => {
      if (msg && msg.type === "stop") this.end("stopped");
      // the kernel's Start (mic.capture()): one view per page answers, the first to
      // claim the message's token, or a widget shown twice would open the device twice
      if (msg && msg.type === "start" && this.root.isConnected && claim(msg.token)) this.begin();
    };
    model.on("change:error", this.onModelChange);
    model.on("change:bound", this.onModelChange);
    model.on("change:buttons", this.onModelChange);
    model.on("msg:custom", this.onCustom);
    this.setState("idle");
  }

  setState(state, rate) {
    this.state = state;
    this.root.dataset.state = state;
    this.model.set("status", state);
    if (rate !== undefined) this.model.set("sample_rate", rate);
    this.model.save_changes();
    this.show();
  }

  fail(message) {
    this.model.set("error", message);
    this.setState("error");
  }

  show() {
    const running = this.state === "running" || this.state === "starting";
    this.start.disabled = running;
    this.stop.disabled = !running;
    const own = this.model.get("buttons") !== false;
    for (const b of [this.start, this.stop]) b.style.display = own ? "" : "none";
    this.error.textContent = this.model.get("error") || "";
    const asked = this.model.get("requested_rate");
    const rate = this.capture?.rate || this.model.get("sample_rate");
    let text = {
      idle: "Press Start to stream the microphone",
      starting: "Asking for the microphone...",
      stopped: `Stopped after ${this.frames} frames at ${rate} Hz`,
      error: "Not streaming",
    }[this.state];
    if (this.state === "running") {
      text = `Streaming at ${rate} Hz, ${this.frames} frames`;
      if (rate !== asked) text += ` (asked for ${asked} Hz: the browser granted ${rate} Hz)`;
    }
    if (own && !this.model.get("bound")) {
      text += " (no session yet: frames are dropped until mic.start(session))";
    }
    if (!own && this.state === "idle") text = "The console's Start starts the microphone";
    this.status.textContent = text;
    this.root.dataset.frames = String(this.frames);
    if (rate) this.root.dataset.rate = String(rate);
  }

  onFrame(rms) {
    this.frames += 1;
    const db = 20 * Math.log10(Math.max(rms, 1e-6));
    this.bar.style.width = `${Math.max(0, Math.min(100, ((db + 60) / 60) * 100))}%`;
    this.root.dataset.levelDb = db.toFixed(1);
    // the status line changes 50 times a second otherwise; 5 is enough to read it
    if (this.frames % 10 === 0) this.show();
  }

  async begin() {
    if (this.capture) return;
    this.model.set("error", "");
    this.frames = 0;
    const run = (this.model.get("runs") || 0) + 1;
    this.model.set("runs", run);
    this.setState("starting");
    const capture = new Capture(this.model, this, run);
    this.capture = capture;
    try {
      await capture.open();
    } catch (err) {
      console.error("[rmlab] BrowserMic:", err);
      await capture.close();
      this.capture = null;
      this.fail(explain(err));
      return;
    }
    if (this.capture !== capture) {
      await capture.close();  // Stop was pressed while the browser asked: release it all
      return;
    }
    this.setState("running", capture.rate);
  }

  async end(state) {
    const capture = this.capture;
    this.capture = null;
    if (capture) await capture.close();
    if (this.state !== "error" && this.state !== "idle") this.setState(state);
  }

  dispose() {
    this.model.off("change:error", this.onModelChange);
    this.model.off("change:bound", this.onModelChange);
    this.model.off("change:buttons", this.onModelChange);
    this.model.off("msg:custom", this.onCustom);
    return this.end("stopped");
  }
}

export default { render: (props) => renderView("BrowserMic", MicView, props) };
