import type { Command } from 'commander';
import { ed25519PublicKey, parseCheckpoints } from '../../compliance/checkpoint.js';
import { verify } from '../../compliance/verify.js';
import type { CliContext } from '../cli-context.js';
import { asUsageErrors } from '../compliance-errors.js';
import { withDatabase } from '../database.js';
import { EXIT_DRIFT } from '../exit-codes.js';
import { globalOptions } from '../global-options.js';
import { readOperatorFile } from '../operator-file.js';
import { textTable } from '../text-table.js';
import { UsageError } from '../usage-error.js';

interface VerifyFlags {
  checkpoints?: string;
  publicKey?: string;
  json?: boolean;
}

export function addVerifyCommand(program: Command, cli: CliContext): void {
  program
    .command('verify')
    .description(
      'check the tamper-evident chain in the server, naming every row changed, reordered, deleted or inserted, and the checkpoints kept outside; exit 3 on any break',
    )
    .option('--checkpoints <file>', 'checkpoints written by seal --sign-key (JSON lines)')
    .option('--public-key <file>', 'Ed25519 public key (PEM) of the key that signed them')
    .option('--json', 'print the result as JSON')
    .action(async (flags: VerifyFlags, command: Command) => {
      const { url, schema } = globalOptions(command, cli.io);
      if ((flags.checkpoints === undefined) !== (flags.publicKey === undefined)) {
        throw new UsageError('give --checkpoints and --public-key together');
      }
      const result = await asUsageErrors(async () => {
        const checkpoints =
          flags.checkpoints === undefined
            ? []
            : parseCheckpoints(
                await readOperatorFile('--checkpoints', flags.checkpoints, cli.io.cwd),
                flags.checkpoints,
              );
        const publicKey =
          flags.publicKey === undefined
            ? undefined
            : ed25519PublicKey(await readOperatorFile('--public-key', flags.publicKey, cli.io.cwd), flags.publicKey);
        return withDatabase(url, (client) => verify(client, schema, { checkpoints, publicKey }));
      });
      if (flags.json) cli.print(JSON.stringify(result, null, 2));
      else {
        if (result.problems.length > 0) {
          const rows = result.problems.map((p) => [p.problem, p.seq ?? '', p.changeId ?? '', p.detail]);
          cli.io.stdout(textTable([['PROBLEM', 'LINK', 'ROW', 'DETAIL'], ...rows]));
        }
        for (const p of result.checkpoints.problems) cli.print(`checkpoint ${p.seq}: ${p.detail}`);
        const erasures = new Set(result.erased.map((e) => e.erasureId));
        if (erasures.size > 0) {
          cli.print(`${result.erased.length} row(s) erased, as erasure(s) ${[...erasures].join(', ')} left them`);
        }
        cli.print(
          `${result.links} link(s), ${result.unsealed} row(s) not sealed yet, ${result.checkpoints.checked} checkpoint(s) checked: ${
            result.ok ? 'the chain holds' : 'the chain is BROKEN'
          }`,
        );
      }
      if (!result.ok) cli.setExitCode(EXIT_DRIFT);
    });
}
