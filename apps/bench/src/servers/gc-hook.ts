// Preloaded (--import) into every server the benchmark starts, ours and the baselines alike:
// on the message 'gc' from the orchestrator it runs a full collection (node --expose-gc) and
// answers 'gc-done', so resident memory is compared after garbage is gone, not before.

const collect = (globalThis as { gc?: () => void }).gc;
process.on('message', (msg: unknown) => {
  if (msg !== 'gc') return;
  collect?.();
  process.send?.('gc-done');
});
// The IPC channel must not keep a server alive on its own, nor stop it exiting.
process.channel?.unref();
