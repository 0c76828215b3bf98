import { open } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { ed25519PrivateKey } from '../../compliance/checkpoint.js';
import { seal } from '../../compliance/seal.js';
import type { CliContext } from '../cli-context.js';
import { asUsageErrors } from '../compliance-errors.js';
import { withDatabase } from '../database.js';
import { globalOptions } from '../global-options.js';
import { readOperatorFile } from '../operator-file.js';
import { UsageError } from '../usage-error.js';

interface SealFlags {
  signKey?: string;
  checkpoints?: string;
  json?: boolean;
}

export function addSealCommand(program: Command, cli: CliContext): void {
  program
    .command('seal')
    .description(
      "append the change rows whose transactions have ended to the tamper-evident chain; with --sign-key, emit a signed checkpoint of the chain's end",
    )
    .option('--sign-key <file>', 'Ed25519 private key (PEM) that signs the checkpoint; keep it off the database host')
    .option('--checkpoints <file>', 'append the signed checkpoint to this file as a JSON line (default: print it)')
    .option('--json', 'print the result as JSON')
    .action(async (flags: SealFlags, command: Command) => {
      const { url, schema } = globalOptions(command, cli.io);
      if (flags.checkpoints !== undefined && flags.signKey === undefined) {
        throw new UsageError('--checkpoints needs --sign-key: checkpoints are signed');
      }
      // The key is read and checked, and the checkpoints file opened, before anything is sealed.
      const { signKey } = flags;
      const signingKey =
        signKey === undefined
          ? undefined
          : await asUsageErrors(async () =>
              ed25519PrivateKey(await readOperatorFile('--sign-key', signKey, cli.io.cwd), signKey),
            );
      const checkpointFile =
        flags.checkpoints === undefined
          ? undefined
          : await open(resolve(cli.io.cwd, flags.checkpoints), 'a').catch((error: Error) => {
              throw new UsageError(`--checkpoints: cannot append to ${flags.checkpoints}: ${error.message}`);
            });
      try {
        const result = await withDatabase(url, (client) => seal(client, schema, { signingKey }));
        const line = result.checkpoint === undefined ? undefined : JSON.stringify(result.checkpoint);
        if (line !== undefined && checkpointFile !== undefined) await checkpointFile.appendFile(`${line}\n`);
        if (flags.json) {
          cli.print(JSON.stringify(result, null, 2));
          return;
        }
        cli.print(`sealed ${result.rows} row(s); the chain ends at link ${result.lastSeq}`);
        if (line !== undefined && checkpointFile === undefined) cli.print(line);
        else if (line !== undefined) cli.print(`checkpoint appended to ${flags.checkpoints}`);
      } finally {
        await checkpointFile?.close();
      }
    });
}
