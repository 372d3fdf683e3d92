// Preloaded into a benchmark target (`node --import ./bench/lib/loop-probe.mjs …`): measures the
// target's own event-loop delay (perf_hooks.monitorEventLoopDelay, 1 ms resolution) and CPU
// time (process.cpuUsage, µs), and answers over the IPC channel the target was spawned with:
//   parent -> { type: 'probe:reset' }  (reply { type: 'probe:reset:done' }): start a window
//   parent -> { type: 'probe:read' }   (reply { type: 'probe:read:done', loop, cpuUs }): the window so far
// loop: { p50, p99, max, mean } in ms. Does nothing without an IPC channel.
import { monitorEventLoopDelay } from 'node:perf_hooks';

if (process.send) {
  const h = monitorEventLoopDelay({ resolution: 1 });
  h.enable();
  let cpuAt = process.cpuUsage();
  const ms = (ns) => Math.round(ns / 1e3) / 1e3;
  process.on('message', (m) => {
    if (m?.type === 'probe:reset') {
      h.reset();
      cpuAt = process.cpuUsage();
      process.send({ type: 'probe:reset:done' });
    } else if (m?.type === 'probe:read') {
      const cpu = process.cpuUsage(cpuAt);
      process.send({ type: 'probe:read:done', loop: { p50: ms(h.percentile(50)), p99: ms(h.percentile(99)), max: ms(h.max), mean: ms(h.mean) }, cpuUs: cpu.user + cpu.system });
    }
  });
  // The listener must not keep a target alive that would otherwise exit.
  process.channel?.unref();
}
