// rmlab BrowserSpeaker: plays audio sent by the kernel in the page.
//
// The kernel sends float32 frames as binary comm buffers,
//
//   {type: "audio", rate, channels, t} + [interleaved float32 samples]
//
// already resampled to the page's rate (`sample_rate`, set here once the AudioContext
// exists; `t` is the kernel's send time in UNIX-epoch ms, for the latency figure). An
// AudioWorklet plays them through a jitter buffer: playback starts once `prefill_ms`
// of audio is queued; when the queue runs dry the output is silent until it is
// refilled, and an underrun is counted when audio arrives again (so a stream that
// simply ends is not one); beyond `max_ms` the oldest audio is dropped. The counters
// are mirrored to data attributes on the widget's root (data-frames, data-underruns,
// data-buffered-ms, ...) and, a few times a second, to the `page` trait, so tests and
// the kernel can read them.
//
// Python prepends audio_common.js (el_, epochMs, userError, audioControls, loadWorklet,
// renderView), so the widget ships as one self-contained module.

const WORKLET = `
class RmPlayer extends AudioWorkletProcessor {
  constructor(options) {
    super();
    const o = options.processorOptions;
    this.target = o.targetSamples;
    this.max = o.maxSamples;
    this.cap = 2 * o.maxSamples + 48000;  // room for a burst before trimming
    this.left = new Float32Array(this.cap);
    this.right = new Float32Array(this.cap);
    this.read = 0;
    this.count = 0;
    this.playing = false;
    this.starved = false;
    this.underruns = 0;
    this.dropped = 0;
    this.played = 0;
    this.quanta = 0;
    this.port.onmessage = (e) => this.push(e.data);
  }
  push({ samples, channels }) {
    const n = samples.length / channels;
    const second = channels > 1 ? 1 : 0;
    for (let i = 0; i < n; i++) {
      const w = (this.read + this.count) % this.cap;
      this.left[w] = samples[i * channels];
      this.right[w] = samples[i * channels + second];
      if (this.count < this.cap) this.count++;
      else { this.read = (this.read + 1) % this.cap; this.dropped++; }
    }
    if (this.count > this.max) {  // too far behind: skip ahead to the target latency
      const skip = this.count - this.target;
      this.read = (this.read + skip) % this.cap;
      this.count -= skip;
      this.dropped += skip;
    }
    if (this.starved) { this.underruns++; this.starved = false; }
    if (this.count >= this.target) this.playing = true;
  }
  process(inputs, outputs) {
    const out = outputs[0];
    const m = out[0].length;
    if (this.playing) {
      const k = Math.min(m, this.count);
      for (let i = 0; i < k; i++) {
        out[0][i] = this.left[this.read];
        if (out[1]) out[1][i] = this.right[this.read];
        this.read = (this.read + 1) % this.cap;
      }
      this.count -= k;
      this.played += k;
      // the rest of the quantum stays silent (outputs start zeroed); refill first
      if (k < m) { this.playing = false; this.starved = true; }
    }
    if (++this.quanta % 16 === 0) this.report();
    return true;
  }
  report() {
    const { count, underruns, dropped, played } = this;
    this.port.postMessage({ buffered: count, underruns, dropped, played });
  }
}
registerProcessor("rm-player", RmPlayer);
`;

function median(values) {
  if (!values.length) return null;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

class SpeakerView {
  constructor(model, el) {
    this.model = model;
    Object.assign(this, audioControls(el, "speaker", "rm-speaker-buffer", "buffered (to max_ms)"));
    this.ctx = null;
    this.counts = { frames: 0, skipped: 0, underruns: 0, buffered: 0, dropped: 0, played: 0 };
    this.latencies = [];
    this.synced = 0;
    this.start.addEventListener("click", () => this.begin());
    this.stop.addEventListener("click", () => this.end());
    this.onError = () => this.show();
    this.onCustom = (msg, buffers) => this.receive(msg, buffers);
    model.on("change:error", this.onError);
    model.on("msg:custom", this.onCustom);
    this.setState("idle");
  }

  setState(state) {
    this.state = state;
    this.root.dataset.state = state;
    this.model.set("status", state);
    this.model.save_changes();
    this.show();
  }

  async begin() {
    if (this.ctx) return;
    this.model.set("error", "");
    let ctx = null;
    try {
      ctx = new AudioContext({
        sampleRate: this.model.get("requested_rate"),
        latencyHint: "interactive",
      });
      this.ctx = ctx;
      await loadWorklet(ctx, WORKLET);
      if (this.ctx !== ctx) return;  // Stop was pressed meanwhile (and closed it)
      const ms = (x) => Math.round((this.model.get(x) * ctx.sampleRate) / 1000);
      this.node = new AudioWorkletNode(ctx, "rm-player", {
        numberOfInputs: 0,
        numberOfOutputs: 1,
        outputChannelCount: [2],
        processorOptions: { targetSamples: ms("prefill_ms"), maxSamples: ms("max_ms") },
      });
      this.node.port.onmessage = (e) => this.report(e.data);
      this.node.connect(ctx.destination);
      await ctx.resume();
    } catch (err) {
      console.error("[rmlab] BrowserSpeaker:", err);
      this.end();
      const why = err.name === "RmlabError" ? err.message : `${err.name}: ${err.message}`;
      this.model.set("error", `Could not start audio output: ${why}`);
      this.setState("error");
      return;
    }
    if (this.ctx !== ctx) return;
    this.model.set("sample_rate", ctx.sampleRate);
    this.setState("playing");
  }

  end() {
    const ctx = this.ctx;
    this.ctx = null;
    this.node = null;
    if (ctx && ctx.state !== "closed") ctx.close().catch((err) => console.warn(err));
    if (this.state === "playing") this.setState("stopped");
  }

  receive(msg, buffers) {
    if (!msg || msg.type !== "audio") return;
    this.counts.frames += 1;
    this.latencies.push(epochMs() - msg.t);
    if (this.latencies.length > 100) this.latencies.shift();
    const ready = this.node && this.ctx && msg.rate === this.ctx.sampleRate;
    if (!ready || !buffers || !buffers.length) {
      this.counts.skipped += 1;  // not started yet, or sent before the kernel saw our rate
    } else {
      const b = buffers[0];
      // copy: a DataView into the message need not be 4-byte aligned
      const bytes = b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength);
      const samples = new Float32Array(bytes);
      this.node.port.postMessage({ samples, channels: msg.channels }, [bytes]);
    }
    this.publish();
  }

  report({ buffered, underruns, dropped, played }) {
    Object.assign(this.counts, { buffered, underruns, dropped, played });
    this.publish();
  }

  publish() {
    const rate = this.ctx?.sampleRate || this.model.get("requested_rate");
    const ms = (n) => Math.round((n / rate) * 1000 * 10) / 10;
    const c = this.counts;
    const page = {
      frames: c.frames,
      skipped: c.skipped,
      underruns: c.underruns,
      buffered_ms: ms(c.buffered),
      dropped_ms: ms(c.dropped),
      played_ms: ms(c.played),
      latency_ms: median(this.latencies),
    };
    const d = this.root.dataset;
    d.frames = String(page.frames);
    d.skipped = String(page.skipped);
    d.underruns = String(page.underruns);
    d.bufferedMs = String(page.buffered_ms);
    d.droppedMs = String(page.dropped_ms);
    d.playedMs = String(page.played_ms);
    if (page.latency_ms !== null) d.latencyMs = page.latency_ms.toFixed(1);
    this.page = page;
    // the kernel hears about it 4 times a second, not on every frame, and always
    // hears the last word (a timer catches the update the throttle held back)
    const wait = 250 - (performance.now() - this.synced);
    if (wait <= 0) this.sync();
    else if (!this.timer) this.timer = setTimeout(() => this.sync(), wait);
  }

  sync() {
    clearTimeout(this.timer);
    this.timer = null;
    this.synced = performance.now();
    this.model.set("page", this.page);
    this.model.save_changes();
    this.show();
  }

  show() {
    const playing = this.state === "playing";
    this.start.disabled = playing;
    this.stop.disabled = !playing;
    this.error.textContent = this.model.get("error") || "";
    const p = this.page;
    const max = this.model.get("max_ms");
    if (p) this.bar.style.width = `${Math.min(100, (p.buffered_ms / max) * 100)}%`;
    const text = {
      idle: "Press Start to hear the pipeline's audio",
      stopped: "Stopped",
      error: "Not playing",
    }[this.state];
    this.status.textContent = playing
      ? `Playing at ${this.ctx.sampleRate} Hz: ${p ? p.frames : 0} frames, ` +
        `${p ? p.buffered_ms : 0} ms buffered, ${p ? p.underruns : 0} underruns`
      : text;
  }

  dispose() {
    clearTimeout(this.timer);
    this.model.off("change:error", this.onError);
    this.model.off("msg:custom", this.onCustom);
    this.end();
  }
}

export default { render: (props) => renderView("BrowserSpeaker", SpeakerView, props) };
