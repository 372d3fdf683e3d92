// Preloaded by `bench/profile.mjs --window` (node --import): a CPU profile of the main thread
// over the measured window only. The first SIGUSR2 starts the V8 profiler, the second writes
// the profile to $TOLLGATE_PROF_OUT and answers by creating $TOLLGATE_PROF_OUT.done. A profile
// from `--cpu-prof` also holds start-up, module loading and the warm-up; this one does not.
import { Session } from 'node:inspector';
import { writeFileSync } from 'node:fs';

const out = process.env.TOLLGATE_PROF_OUT;
if (out) {
  const session = new Session();
  session.connect();
  let running = false;
  process.on('SIGUSR2', () => {
    if (!running) {
      running = true;
      // 100 µs between samples (V8's default is 1 ms): enough samples from a few seconds of load.
      session.post('Profiler.enable', () => session.post('Profiler.setSamplingInterval', { interval: 100 }, () => session.post('Profiler.start')));
      return;
    }
    running = false;
    session.post('Profiler.stop', (err, result) => {
      writeFileSync(out, err ? '{}' : JSON.stringify(result.profile));
      writeFileSync(`${out}.done`, '');
    });
  });
}
