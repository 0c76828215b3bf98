import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { expect, test } from 'vitest';
import { generatedModulePath, renderMigrationsModule } from '../scripts/build-sql.mjs';
import { migrations } from '../src/generated/migrations.js';

test('src/generated/migrations.ts is up to date with sql/', async () => {
  const committed = await readFile(generatedModulePath, 'utf8');
  expect(committed, 'src/generated/migrations.ts is stale: run pnpm --filter @auditrum/core build:sql').toBe(
    await renderMigrationsModule(),
  );
});

test('the generated module carries each sql file verbatim, numbered from 1', async () => {
  expect(migrations.map((m) => m.id)).toEqual(migrations.map((_, index) => index + 1));
  for (const migration of migrations) {
    const file = fileURLToPath(new URL(`../sql/${migration.name}`, import.meta.url));
    expect(migration.sql).toBe(await readFile(file, 'utf8'));
  }
});
