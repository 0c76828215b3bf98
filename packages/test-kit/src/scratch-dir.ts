import { chmod, mkdir, mkdtemp } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * Creates a fresh directory under `<rootDir>/.tmp`, so that leftovers of a crashed run stay
 * in the (git-ignored) project rather than in /tmp.
 */
export async function makeScratchDir(rootDir: string, prefix: string): Promise<string> {
  const projectTmp = join(rootDir, '.tmp');
  await mkdir(projectTmp, { recursive: true });
  const dir = await mkdtemp(join(projectTmp, prefix));
  // mkdtemp makes it 0700, which would lock out the postgres user when running as root.
  await chmod(dir, 0o755);
  return dir;
}
