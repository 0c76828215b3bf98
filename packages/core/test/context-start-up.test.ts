import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

// What happens at start-up is per process: each case runs a small ES module in a Node of its own, on the
// workspace's TypeScript source.
const packageDir = join(import.meta.dirname, '..');

async function runModule(source: string): Promise<string> {
  const { stdout } = await promisify(execFile)(
    process.execPath,
    [
      '--experimental-transform-types',
      '--no-warnings=ExperimentalWarning',
      '--conditions=@auditrum/source',
      '--import',
      join(packageDir, '../../test/source-hooks.ts'),
      '--input-type=module',
      '--eval',
      `process.on('warning', (w) => w.name !== 'ExperimentalWarning' && console.log('warning', w.code ?? w.name));\n${source}`,
    ],
    { cwd: packageDir },
  );
  return stdout.trim();
}

describe('a context that no statement can carry is reported once', () => {
  it('warns once, with a code, when scopes run and no pg is instrumented', async () => {
    const output = await runModule(`
      import { withAuditContext } from '@auditrum/core';
      withAuditContext({ actor: { id: 'a' } }, () => 1);
      await new Promise((resolve) => setTimeout(resolve, 10));
      withAuditContext({ actor: { id: 'b' } }, () => 2);
      await new Promise((resolve) => setTimeout(resolve, 10));
      console.log('done');
    `);
    expect(output.split('\n')).toEqual(['warning AUDITRUM_NO_INSTRUMENTED_CLIENT', 'done']);
  });

  it('says nothing when pg is instrumented, before the first scope or in the same turn', async () => {
    for (const order of [
      'instrumentPg(); withAuditContext({}, () => 1);',
      'withAuditContext({}, () => 1); instrumentPg();',
    ]) {
      const output = await runModule(`
        import { instrumentPg, withAuditContext } from '@auditrum/core';
        ${order}
        await new Promise((resolve) => setTimeout(resolve, 10));
        console.log('done');
      `);
      expect(output).toBe('done');
    }
  });
});

describe('every copy of pg is instrumented', () => {
  it('including a copy loaded before Auditrum (pg-promise pins its own)', async () => {
    const output = await runModule(`
      import pgPromise from 'pg-promise';
      import pg from 'pg';
      import { instrumentPg } from '@auditrum/core';
      const pinned = pgPromise().pg;
      const instrumented = (copy) => Object.hasOwn(copy.Client.prototype, Symbol.for('auditrum.pg-instrumented'));
      console.log(pinned !== pg, instrumented(pinned));
      instrumentPg();
      console.log(instrumented(pinned), instrumented(pg), Object.hasOwn(pinned.Pool.prototype, Symbol.for('auditrum.pg-instrumented')));
    `);
    expect(output.split('\n')).toEqual(['true false', 'true true true']);
  });
});
