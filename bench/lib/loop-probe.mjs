// Preloaded into a benchmark target (`node --import ./bench/lib/loop-probe.mjs …`): measures the
// target's own event-loop delay (perf_hooks.monitorEventLoopDelay, 1 ms resolution) and CPU
// time (process.cpuUsage, µs), and answers over the IPC channel the target was spawned with:
//   parent -> { type: 'probe:reset', callbacks? } (reply { type: 'probe:reset:done' }): start a window
//   parent -> { type: 'probe:read' }   (reply { type: 'probe:read:done', loop, cpuUs, callbacks? }): the window so far
// loop: { p50, p99, max, mean } in ms. Does nothing without an IPC channel.
//
// With `callbacks: true` the window also times every callback the event loop runs (async_hooks
// before/after, promise reactions included; only the outermost of nested ones counts): how
// long one piece of work kept every other request waiting. Unlike the loop delay, that does
// not grow with the load: a saturated loop is late for every timer, however short each
// callback is. The hooks cost CPU, so a window with them is not one to read CPU from.
import { createHook } from 'node:async_hooks';
import { createHistogram, monitorEventLoopDelay, PerformanceObserver } from 'node:perf_hooks';

if (process.send) {
  const h = monitorEventLoopDelay({ resolution: 1 });
  h.enable();
  let cpuAt = process.cpuUsage();
  const ms = (ns) => Math.round(ns / 1e3) / 1e3;
  const spans = createHistogram();
  let depth = 0;
  let began = 0n;
  // What the longest callbacks were (async resource types), and the longest garbage collection:
  // a pause inside a callback that is V8's, not the code's.
  const types = new Map();
  let outer = '';
  let longest = [];
  let gcMax = 0;
  // Callbacks over 1 ms ([start, end] in performance.now() ms) and the collections of the
  // window: what is left of a callback's time net of the collections inside it is its code's
  // own, or the machine's (the VM or the kernel taking core 0).
  let slow = [];
  let pauses = [];
  const gc = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      gcMax = Math.max(gcMax, e.duration);
      if (pauses.length < 100_000) pauses.push([e.startTime, e.startTime + e.duration]);
    }
  });
  const netOfGc = ([from, to]) => pauses.reduce((t, [a, b]) => t - Math.max(0, Math.min(to, b) - Math.max(from, a)), to - from);
  const hook = createHook({
    init(id, type) {
      types.set(id, type);
    },
    destroy(id) {
      types.delete(id);
    },
    promiseResolve() {},
    before(id) {
      if (depth++ === 0) {
        outer = types.get(id) ?? '?';
        began = process.hrtime.bigint();
      }
    },
    after() {
      // depth 0: the callback that enabled the hook ends (its `before` came too early to count).
      if (depth > 0 && --depth === 0) {
        const ns = process.hrtime.bigint() - began || 1n;
        spans.record(ns);
        if (ns > 1_000_000n) {
          longest = [...longest, [Number(ns) / 1e6, outer]].sort((a, b) => b[0] - a[0]).slice(0, 5);
          const end = performance.now();
          if (slow.length < 100_000) slow.push([end - Number(ns) / 1e6, end]);
        }
      }
    },
  });
  let timing = false;
  process.on('message', (m) => {
    if (m?.type === 'probe:reset') {
      h.reset();
      spans.reset();
      if (m.callbacks && !timing) (hook.enable(), gc.observe({ entryTypes: ['gc'] }));
      else if (!m.callbacks && timing) (hook.disable(), gc.disconnect(), types.clear());
      longest = [];
      gcMax = 0;
      slow = [];
      pauses = [];
      timing = Boolean(m.callbacks);
      depth = 0;
      cpuAt = process.cpuUsage();
      process.send({ type: 'probe:reset:done' });
    } else if (m?.type === 'probe:read') {
      const cpu = process.cpuUsage(cpuAt);
      const callbacks = timing ? { p99: ms(spans.percentile(99)), p999: ms(spans.percentile(99.9)), max: ms(spans.max), count: spans.count, longest: longest.map(([t, type]) => `${t.toFixed(1)} ms ${type}`), gcMaxMs: Math.round(gcMax * 1000) / 1000, maxNetOfGcMs: Math.round(Math.max(0, ...slow.map(netOfGc)) * 1000) / 1000 } : undefined;
      process.send({ type: 'probe:read:done', loop: { p50: ms(h.percentile(50)), p99: ms(h.percentile(99)), max: ms(h.max), mean: ms(h.mean) }, cpuUs: cpu.user + cpu.system, callbacks });
    }
  });
  // The listener must not keep a target alive that would otherwise exit.
  process.channel?.unref();
}
