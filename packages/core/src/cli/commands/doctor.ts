import type { Command } from 'commander';
import { DEFAULT_MAX_SEAL_AGE_HOURS } from '../../compliance/chain-check.js';
import type { DoctorStatus } from '../../compliance/doctor.js';
import { doctor } from '../../compliance/doctor.js';
import type { CliContext } from '../cli-context.js';
import { asUsageErrors } from '../compliance-errors.js';
import { withDatabase } from '../database.js';
import { EXIT_DRIFT } from '../exit-codes.js';
import { globalOptions } from '../global-options.js';
import { hours, monthsAhead } from '../option-parsers.js';
import { textTable } from '../text-table.js';

const MARK: Record<DoctorStatus, string> = { ok: 'ok', problem: 'PROBLEM', not_enabled: 'not enabled' };

export function addDoctorCommand(program: Command, cli: CliContext): void {
  program
    .command('doctor')
    .description(
      'check that logging cannot have stopped unnoticed: capture triggers present and enabled, partitions ahead; exit 3 listing what is wrong',
    )
    .option('--ahead <months>', 'months after this one whose partitions must exist, 0 to 120', monthsAhead, 1)
    .option(
      '--seal-max-age <hours>',
      "hours after which the chain's last seal is a problem, 1 to 8760",
      hours,
      DEFAULT_MAX_SEAL_AGE_HOURS,
    )
    .option('--json', 'print the report as JSON')
    .action(async (flags: { ahead: number; sealMaxAge: number; json?: boolean }, command: Command) => {
      const { url, schema } = globalOptions(command, cli.io);
      const report = await asUsageErrors(() =>
        withDatabase(url, (client) =>
          doctor(client, schema, { monthsAhead: flags.ahead, maxSealAgeHours: flags.sealMaxAge }),
        ),
      );
      if (flags.json) cli.print(JSON.stringify(report, null, 2));
      else {
        const rows = report.checks.map((c) => [MARK[c.status], c.check, c.subject, c.detail]);
        cli.io.stdout(textTable([['STATUS', 'CHECK', 'SUBJECT', 'DETAIL'], ...rows]));
        const problems = report.checks.filter((c) => c.status === 'problem').length;
        cli.print(problems === 0 ? 'no problems found' : `${problems} problem(s) found`);
      }
      if (!report.ok) cli.setExitCode(EXIT_DRIFT);
    });
}
