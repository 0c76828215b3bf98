/**
 * Starts the sample shops (e2e/sample-apps/serve.ts, run by Node from the workspace's TypeScript source)
 * and hands their URLs to the tests through the environment; the returned function stops them.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const START_TIMEOUT_MS = 120_000;

export default async function globalSetup(): Promise<() => Promise<void>> {
  const child = spawn(
    process.execPath,
    [
      '--experimental-transform-types',
      '--no-warnings=ExperimentalWarning',
      '--conditions=@auditrum/source',
      '--import',
      './test/source-hooks.ts',
      'e2e/sample-apps/serve.ts',
    ],
    { cwd: REPO_ROOT, stdio: ['pipe', 'pipe', 'inherit'] },
  );
  const urls = await new Promise<Record<string, string>>((resolve, reject) => {
    let output = '';
    const timer = setTimeout(
      () => reject(new Error(`the sample shops did not start in time:\n${output}`)),
      START_TIMEOUT_MS,
    );
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const ready = /^READY (.*)$/m.exec(output);
      if (ready?.[1]) {
        clearTimeout(timer);
        resolve(JSON.parse(ready[1]) as Record<string, string>);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the sample shops exited with ${code} before they were ready:\n${output}`));
    });
  });
  child.stdout.on('data', (chunk: Buffer) => process.stdout.write(chunk));
  for (const [framework, url] of Object.entries(urls)) process.env[`E2E_${framework.toUpperCase()}_URL`] = url;

  return async () => {
    if (child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
  };
}
