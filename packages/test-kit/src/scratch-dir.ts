import { constants } from 'node:fs';
import { chmod, mkdir, mkdtemp, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

/**
 * Creates a fresh directory for a PostgreSQL data directory, under `<rootDir>/.tmp` so that
 * leftovers of a crashed run stay in the (git-ignored) project rather than in /tmp.
 *
 * When the tests run as root, PostgreSQL runs as the `postgres` user, which must be able to
 * traverse every parent directory. A checkout inside a private directory (such as one made by
 * `mktemp -d`) is not traversable, so the directory then goes to the system's temp directory.
 */
export async function makeScratchDir(rootDir: string, prefix: string): Promise<string> {
  const projectTmp = join(rootDir, '.tmp');
  await mkdir(projectTmp, { recursive: true });
  const parent = process.getuid?.() === 0 && !(await othersCanTraverse(projectTmp)) ? tmpdir() : projectTmp;
  const dir = await mkdtemp(join(parent, prefix));
  // mkdtemp makes it 0700, which would lock out the postgres user.
  await chmod(dir, 0o755);
  return dir;
}

async function othersCanTraverse(dir: string): Promise<boolean> {
  for (let current = dir; ; current = dirname(current)) {
    if (((await stat(current)).mode & constants.S_IXOTH) === 0) return false;
    if (dirname(current) === current) return true;
  }
}
