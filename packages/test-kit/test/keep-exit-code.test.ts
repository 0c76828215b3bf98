import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect, test } from 'vitest';

const testKit = fileURLToPath(new URL('../', import.meta.url));
const sourceHooks = new URL('../../../test/source-hooks.ts', import.meta.url).href;
const embeddedSource = new URL('../src/sources/embedded-postgres.ts', import.meta.url).href;

/** The exit code of a Node process that runs `code` (an ES module) in the test kit's package. */
function exitCodeOf(code: string): Promise<number | null> {
  const args = [
    '--experimental-transform-types',
    '--no-warnings',
    '--import',
    sourceHooks,
    '--input-type=module',
    '-e',
    code,
  ];
  return new Promise((resolve) => {
    execFile(process.execPath, args, { cwd: testKit }, (error) => {
      resolve(error ? ((error as { code?: number }).code ?? null) : 0);
    });
  });
}

test("a process that loaded the test kit's embedded-postgres ends with the exit code it set", async () => {
  // embedded-postgres alone: its exit hook ends the process with 0, whatever the test runner had set.
  expect(await exitCodeOf("import 'embedded-postgres'; process.exitCode = 3;")).toBe(0);
  expect(await exitCodeOf(`import '${embeddedSource}'; process.exitCode = 3;`)).toBe(3);
  expect(await exitCodeOf(`import '${embeddedSource}';`)).toBe(0);
});
