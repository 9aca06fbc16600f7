// rmlab BrowserSpeaker: plays audio sent by the kernel in the page.
//
// The kernel sends float32 frames as binary comm buffers,
//
//   {type: "audio", rate, channels, t} + [interleaved float32 samples]
//
// already resampled to the page's rate (`sample_rate`, set here once the AudioContext
// exists; `t` is the kernel's send time in UNIX-epoch ms, for the latency figure).
//
// An AudioWorklet plays them through a jitter buffer whose depth follows the measured
// arrival jitter. Each message's lateness is its arrival time on the audio clock minus
// the stream position of its first sample; the jitter is the spread of that lateness
// over the last 10 s (the latest arrival minus the earliest: a percentile would let
// through the rare long stall, and each one is an audible gap). The target is the
// audio queued right after an on-time message: the message itself, 1.5 times the
// jitter and a margin, kept between `min_ms` and half of `max_ms`. It rises at once
// when the jitter does, doubles after an underrun, and falls back slowly (halving its
// excess every 30 s) while arrival is steady. Playback holds the buffer
// at the target without losing or repeating audio: when it holds too much it plays
// 0.5% faster, too little 1% slower (a slip of one sample at a time, linearly
// interpolated; at the target the samples are played exactly as sent). Playback
// starts once `prefill_ms` (the first target) is queued; when the queue runs dry the
// output is silent until it holds the target again, and an underrun is counted when
// audio arrives again (so a stream that simply ends is not one; a gap longer than any
// target starts a new stream, whose lateness is measured afresh). Beyond `max_ms` the
// oldest audio is dropped.
//
// The counters are shown in the widget (underruns, target, jitter), mirrored to data
// attributes on its root (data-frames, data-underruns, data-target-ms, ...) and, a
// few times a second, to the `page` trait, so tests and the kernel can read them.
//
// Python prepends audio_common.js (el_, epochMs, userError, audioControls, loadWorklet,
// renderView), so the widget ships as one self-contained module.

const WORKLET = `
const WINDOW_S = 10;  // how far back the jitter is measured
// The worst lateness of the next minutes exceeds the worst of the last 10 s (measured:
// the page's arrival has a long tail), so the target covers the spread half again.
const SAFETY = 1.5;
const HALF_LIFE_S = 30;  // the target's excess over what the jitter needs halves this fast
const UNDERRUN_RAISE = 2;  // after an underrun the target covers twice what was measured
const FASTER = 0.005;  // playback speed-up while the buffer holds too much
const SLOWER = 0.01;  // slow-down while it holds too little (underruns are worse than latency)

// The extreme of the values pushed over the last \`span\` frames: a monotonic deque.
class Sliding {
  constructor(span, better) {
    this.span = span;
    this.better = better;
    this.clear();
  }
  clear() {
    this.t = [];
    this.v = [];
    this.head = 0;
  }
  push(t, v) {
    while (this.v.length > this.head && !this.better(this.v[this.v.length - 1], v)) {
      this.t.pop();
      this.v.pop();
    }
    this.t.push(t);
    this.v.push(v);
    while (this.t[this.head] <= t - this.span) this.head++;
    if (this.head > 512) {
      this.t = this.t.slice(this.head);
      this.v = this.v.slice(this.head);
      this.head = 0;
    }
  }
  get value() {
    return this.v[this.head];
  }
}

class RmPlayer extends AudioWorkletProcessor {
  constructor(options) {
    super();
    const o = options.processorOptions;
    const ms = (x) => Math.round((x * sampleRate) / 1000);
    this.floor = ms(o.minMs);
    this.ceiling = ms(o.maxMs / 2);
    this.max = ms(o.maxMs);
    this.margin = ms(o.marginMs);
    this.target = ms(o.prefillMs);
    this.cap = 2 * this.max + sampleRate;  // room for a burst before trimming
    this.left = new Float32Array(this.cap);
    this.right = new Float32Array(this.cap);
    this.read = 0;  // ring index of the next sample to play
    this.frac = 0;  // how far playback is between it and the next one (while slipping)
    this.step = 1;  // samples consumed per sample played
    this.settle = false;  // end the current slip, then play at speed 1
    this.count = 0;  // samples queued
    this.received = 0;  // stream position: samples received so far
    this.consumed = 0;  // samples played or dropped so far
    this.size = 0;  // samples in the latest message
    this.latest = new Sliding(sampleRate * WINDOW_S, (a, b) => a > b);
    this.earliest = new Sliding(sampleRate * WINDOW_S, (a, b) => a < b);
    this.jitter = 0;
    this.retargeted = currentFrame;
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
    const lateness = currentFrame - this.received;
    let raise = false;
    if (this.starved) {
      this.underruns++;
      this.starved = false;
      if (lateness - this.earliest.value > this.ceiling) {
        this.latest.clear();  // no target could have covered it: a new stream
        this.earliest.clear();
      } else {
        raise = true;
      }
    }
    this.latest.push(currentFrame, lateness);
    this.earliest.push(currentFrame, lateness);
    this.jitter = this.latest.value - this.earliest.value;
    this.size = n;
    this.retarget(raise);
    const second = channels > 1 ? 1 : 0;
    for (let i = 0; i < n; i++) {
      const w = (this.read + this.count) % this.cap;
      this.left[w] = samples[i * channels];
      this.right[w] = samples[i * channels + second];
      if (this.count === this.cap) this.skip(1);  // it took the oldest sample's place
      this.count++;
    }
    this.received += n;
    if (this.count > this.max) this.skip(this.count - this.target);  // too far behind
    if (!this.playing && this.count >= this.target) this.playing = true;
  }
  retarget(raise) {
    const need = this.size + SAFETY * this.jitter + this.margin;
    const elapsed = (currentFrame - this.retargeted) / sampleRate;
    this.retargeted = currentFrame;
    let target = Math.max(need, need + (this.target - need) * 2 ** (-elapsed / HALF_LIFE_S));
    if (raise) target = Math.max(target, UNDERRUN_RAISE * need);
    this.target = Math.round(Math.min(this.ceiling, Math.max(this.floor, target)));
  }
  skip(k) {
    this.read = (this.read + k) % this.cap;
    this.count -= k;
    this.consumed += k;
    this.dropped += k;
    this.frac = 0;
  }
  steer() {
    // How much later than needed the next sample plays: the delay an on-time message
    // would find (playback position vs. the earliest lateness) minus the target.
    const delay = currentFrame - this.consumed - this.frac - this.earliest.value;
    const excess = delay - (this.target - this.size);
    // slow down as soon as the margin is eaten into; speed up only for a clear excess
    // (latency can wait, and every slip changes the sound a little); either lasts
    // until the excess is nearly gone
    const m = this.margin;
    if (excess > 2 * m) {
      this.step = 1 + FASTER;
      this.settle = false;
    } else if (excess < -m / 2) {
      this.step = 1 - SLOWER;
      this.settle = false;
    } else if (this.step > 1 ? excess < m / 4 : excess > -m / 4) {
      this.settle = this.step !== 1;  // finish the slip under way: no jump in the waveform
    }
  }
  process(inputs, outputs) {
    const out = outputs[0];
    const l = out[0];
    const r = out[1];
    const m = l.length;
    if (this.playing) {
      this.steer();
      const { left, right, cap } = this;
      let i = 0;
      for (; i < m && this.count > 0; i++) {
        const a = this.read;
        if (this.frac === 0 || this.count < 2) {
          l[i] = left[a];
          if (r) r[i] = right[a];
        } else {
          const b = (a + 1) % cap;
          const f = this.frac;
          l[i] = left[a] + (left[b] - left[a]) * f;
          if (r) r[i] = right[a] + (right[b] - right[a]) * f;
        }
        let pos = this.frac + this.step;
        while (pos >= 1 && this.count > 0) {
          this.read = (this.read + 1) % cap;
          this.count--;
          this.consumed++;
          this.played++;
          pos -= 1;
        }
        this.frac = pos;
        if (this.settle && pos < Math.abs(this.step - 1)) {
          this.frac = 0;
          this.step = 1;
          this.settle = false;
        }
      }
      // the rest of the quantum stays silent (outputs start zeroed); refill first
      if (i < m) {
        this.playing = false;
        this.starved = true;
        this.frac = 0;
        this.step = 1;
        this.settle = false;
      }
    }
    if (++this.quanta % 16 === 0) this.report();
    return true;
  }
  report() {
    const { count, underruns, dropped, played, target, jitter } = this;
    this.port.postMessage({ buffered: count, underruns, dropped, played, target, jitter });
  }
}
registerProcessor("rm-player", RmPlayer);
`;

// Safety beyond the measured jitter: a few render quanta of the audio thread, whose
// wake-ups are late too.
const MARGIN_MS = 10;

function median(values) {
  if (!values.length) return null;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

class SpeakerView {
  constructor(model, el) {
    this.model = model;
    Object.assign(this, audioControls(el, "speaker", "rm-speaker-buffer", "buffered (to max_ms)"));
    // always in view: what a person listening wants to know (did it glitch, how deep)
    this.underrunLabel = el_("span", "rm-speaker-underruns");
    this.targetLabel = el_("span", "rm-speaker-target");
    this.underrunLabel.title = "times the buffer ran dry while audio was still coming (a gap)";
    this.targetLabel.title = "audio kept queued, sized from the measured arrival jitter";
    this.counters = el_("span", "rm-status rm-speaker-counters");
    this.counters.append(this.underrunLabel, " \u00b7 ", this.targetLabel);
    this.status.after(this.counters);
    this.ctx = null;
    this.counts = { frames: 0, skipped: 0, underruns: 0, buffered: 0, dropped: 0, played: 0 };
    this.counts.target = null;  // the prefill until the player reports
    this.counts.jitter = 0;
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
      this.node = new AudioWorkletNode(ctx, "rm-player", {
        numberOfInputs: 0,
        numberOfOutputs: 1,
        outputChannelCount: [2],
        processorOptions: {
          minMs: this.model.get("min_ms"),
          prefillMs: this.model.get("prefill_ms"),
          maxMs: this.model.get("max_ms"),
          marginMs: MARGIN_MS,
        },
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

  report({ buffered, underruns, dropped, played, target, jitter }) {
    Object.assign(this.counts, { buffered, underruns, dropped, played, target, jitter });
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
      target_ms: ms(c.target ?? (this.model.get("prefill_ms") * rate) / 1000),
      jitter_ms: ms(c.jitter),
      latency_ms: median(this.latencies),
    };
    const d = this.root.dataset;
    d.frames = String(page.frames);
    d.skipped = String(page.skipped);
    d.underruns = String(page.underruns);
    d.bufferedMs = String(page.buffered_ms);
    d.droppedMs = String(page.dropped_ms);
    d.playedMs = String(page.played_ms);
    d.targetMs = String(page.target_ms);
    d.jitterMs = String(page.jitter_ms);
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
        `${p ? p.buffered_ms : 0} ms buffered`
      : text;
    const underruns = p ? p.underruns : 0;
    this.underrunLabel.textContent = `${underruns} underrun${underruns === 1 ? "" : "s"}`;
    const target = p ? p.target_ms : this.model.get("prefill_ms");
    const jitter = p ? `, jitter ${Math.round(p.jitter_ms)} ms` : "";
    this.targetLabel.textContent = `target ${Math.round(target)} ms${jitter}`;
  }

  dispose() {
    clearTimeout(this.timer);
    this.model.off("change:error", this.onError);
    this.model.off("msg:custom", this.onCustom);
    this.end();
  }
}

export default { render: (props) => renderView("BrowserSpeaker", SpeakerView, props) };
