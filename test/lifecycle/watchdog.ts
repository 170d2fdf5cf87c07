import { MessageChannel, Worker } from 'node:worker_threads';

/**
 * A bound on each step that holds even when the step blocks the event loop (a native loop that
 * never returns starves every timer in this thread, vitest's test timeout included). A worker
 * thread waits on shared memory; when a step outlives its bound it prints the step's name and
 * kills this process, so vitest reports a dead worker and CI fails instead of hanging.
 * It never fails a step for being slow but finished: this is a hang detector, not a timing test.
 */
export interface Watchdog {
  /** Runs `step`; if it has not settled within `boundMs`, the process is killed. */
  guard<T>(name: string, step: () => T | Promise<T>): Promise<T>;
  stop(): Promise<void>;
}

/** @param boundMs generous on purpose (CI shares two cores): only a hang should reach it. @default 60_000 */
export function startWatchdog(boundMs = 60_000): Watchdog {
  // [0] bumped when a step starts or ends, [1] 1 while a step runs, [2] 1 to stop the worker.
  const state = new Int32Array(new SharedArrayBuffer(12));
  const names = new MessageChannel();
  const worker = new Worker(WORKER_SOURCE, {
    eval: true,
    workerData: { state, port: names.port2, boundMs },
    transferList: [names.port2],
  });
  worker.unref();
  const signal = () => {
    Atomics.add(state, 0, 1);
    Atomics.notify(state, 0);
  };
  return {
    async guard(name, step) {
      names.port1.postMessage(name);
      Atomics.store(state, 1, 1);
      signal();
      try {
        return await step();
      } finally {
        Atomics.store(state, 1, 0);
        signal();
      }
    },
    async stop() {
      Atomics.store(state, 2, 1);
      signal();
      names.port1.close();
      await worker.terminate();
    },
  };
}

// Plain JS: an eval'd worker is not transformed by tsx.
const WORKER_SOURCE = `
const { workerData, receiveMessageOnPort } = require('node:worker_threads');
const { writeSync } = require('node:fs');
const { state, port, boundMs } = workerData;
let name = '(unnamed)';
for (;;) {
  const seen = Atomics.load(state, 0);
  if (Atomics.load(state, 2) === 1) break;
  const running = Atomics.load(state, 1) === 1;
  const outcome = Atomics.wait(state, 0, seen, running ? boundMs : undefined);
  for (let m = receiveMessageOnPort(port); m; m = receiveMessageOnPort(port)) name = m.message;
  if (outcome === 'timed-out' && Atomics.load(state, 0) === seen && Atomics.load(state, 1) === 1) {
    writeSync(2, 'WATCHDOG: step "' + name + '" did not finish within ' + boundMs + ' ms; killing the test process\\n');
    process.kill(process.pid, 'SIGKILL');
  }
}
`;
