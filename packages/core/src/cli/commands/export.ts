import { resolve } from 'node:path';
import type { Command } from 'commander';
import { InvalidArgumentError, Option } from 'commander';
import pg from 'pg';
import type { ExportLog } from '../../export/export-cursor.js';
import { EXPORT_LOGS, ExportInputError } from '../../export/export-cursor.js';
import type { ExportFormatName } from '../../export/export-format.js';
import { EXPORT_FORMATS } from '../../export/export-format.js';
import type { ExportSink } from '../../export/export-sink.js';
import { fileSink } from '../../export/file-sink.js';
import { runExport } from '../../export/run-export.js';
import { stdoutSink } from '../../export/stdout-sink.js';
import { webhookSink } from '../../export/webhook-sink.js';
import { parseInstant } from '../../history/instant.js';
import type { CliContext } from '../cli-context.js';
import { errorMessage } from '../database.js';
import { globalOptions } from '../global-options.js';
import { columnList } from '../option-parsers.js';
import { SAFE_SEARCH_PATH } from '../safe-search-path.js';
import { UsageError } from '../usage-error.js';

interface ExportFlags {
  cursor?: string;
  since?: string;
  logs?: ExportLog[];
  format: ExportFormatName;
  follow?: boolean;
  poll: number;
  batch: number;
  file?: string;
  rotateSize?: number;
  rotateInterval?: number;
  webhook?: string;
  webhookHeader: string[];
  webhookAttempts: number;
}

/** A whole number from `min` to `max` (commander parser). */
const wholeNumber = (min: number, max: number) => (value: string) => {
  const n = /^\d{1,12}$/.test(value) ? Number(value) : Number.NaN;
  if (!(n >= min && n <= max)) throw new InvalidArgumentError(`expected a whole number from ${min} to ${max}.`);
  return n;
};

const SIZE_UNITS: Record<string, number> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 };

/** Bytes, with an optional K, M or G (powers of 1024): `100M`. */
function byteSize(value: string): number {
  const match = /^(\d{1,12})\s*([kmg]?)i?b?$/i.exec(value.trim());
  const bytes = match ? Number(match[1]) * (SIZE_UNITS[(match[2] as string).toLowerCase()] as number) : Number.NaN;
  if (!(bytes >= 1024))
    throw new InvalidArgumentError('expected a size of at least 1K, such as 1048576, 512K, 100M or 1G.');
  return bytes;
}

function logList(value: string): ExportLog[] {
  const logs = columnList(value);
  const unknown = logs.filter((log) => !(EXPORT_LOGS as readonly string[]).includes(log));
  if (unknown.length > 0 || new Set(logs).size !== logs.length) {
    throw new InvalidArgumentError(`expected ${EXPORT_LOGS.join(', ')} or both, each once.`);
  }
  return logs as ExportLog[];
}

function header(value: string, previous: string[]): string[] {
  if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+:\s*\S/.test(value)) {
    throw new InvalidArgumentError('expected "Name: value", such as "Authorization: Bearer …".');
  }
  // fetch refuses such a value at each try: the export failed only after all its tries.
  if (/[\0\r\n]/.test(value)) {
    throw new InvalidArgumentError('a header value cannot hold a line break or a NUL.');
  }
  return [...previous, value];
}

export function addExportCommand(program: Command, cli: CliContext): void {
  program
    .command('export')
    .description(
      'stream the change log and the API log as NDJSON or CEF, each row once, from a stored cursor; to stdout, rotated files or a webhook',
    )
    .option('--cursor <file>', 'where the cursor is kept: read to resume, written after each batch (created if absent)')
    .option(
      '--since <time>',
      'a new cursor starts at this ISO 8601 time with its zone (default: the start of the logs)',
    )
    .option('--logs <list>', `which logs, in this order: ${EXPORT_LOGS.join(',')} (default both)`, logList)
    .addOption(new Option('--format <format>', 'output format').choices(Object.keys(EXPORT_FORMATS)).default('ndjson'))
    .option('--follow', 'keep going: wait for new rows until stopped (SIGINT or SIGTERM)')
    .option('--poll <ms>', 'with --follow, the wait between polls in milliseconds', wholeNumber(10, 60_000), 250)
    .option('--batch <rows>', 'records per batch delivered (and cursor stored)', wholeNumber(1, 100_000), 10_000)
    .option('--file <path>', 'write to files <path>.<number>.<time>.<format>, rotated (default: stdout)')
    .option(
      '--rotate-size <bytes>',
      'with --file, a new file once one holds this much: 1048576, 512K, 100M, 1G',
      byteSize,
    )
    .option('--rotate-interval <seconds>', 'with --file, a new file once one is this old', wholeNumber(1, 31_536_000))
    .option('--webhook <url>', 'POST each batch to this http(s) URL, retried with backoff (default: stdout)')
    .option('--webhook-header <header>', 'with --webhook, a request header "Name: value" (repeatable)', header, [])
    .option('--webhook-attempts <n>', 'with --webhook, tries per batch before failing', wholeNumber(1, 1000), 10)
    .action(async (flags: ExportFlags, command: Command) => {
      const { url, schema } = globalOptions(command, cli.io);
      const since = flags.since === undefined ? undefined : checkedSince(flags.since);
      checkSinkFlags(flags);
      const format = EXPORT_FORMATS[flags.format];
      const controller = new AbortController();
      const stop = () => controller.abort();
      const sink = openSink(flags, cli, format, controller.signal);
      const pool = new pg.Pool({ connectionString: url, max: 1, application_name: 'auditrum-export' });
      pool.on('error', () => undefined);
      // The export's own session searches pg_catalog alone, as every other command's (safe-search-path.ts).
      pool.on('connect', (client) => {
        client.query(SAFE_SEARCH_PATH).catch(() => undefined);
      });
      if (flags.follow) {
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      }
      try {
        const result = await runExport(pool, schema, {
          cursorFile: flags.cursor === undefined ? undefined : resolve(cli.io.cwd, flags.cursor),
          since,
          logs: flags.logs,
          follow: flags.follow,
          pollIntervalMs: flags.poll,
          batchRows: flags.batch,
          format,
          sink,
          signal: controller.signal,
        });
        const where = result.cursor === undefined ? '' : `; cursor at step ${result.cursor.step}`;
        // With stdout as the sink, the summary goes to stderr, not into the records.
        const summary = `exported ${result.records} record(s)${where}\n`;
        if (flags.file === undefined && flags.webhook === undefined) cli.io.stderr(summary);
        else cli.io.stdout(summary);
      } catch (error) {
        if (error instanceof ExportInputError) throw new UsageError(errorMessage(error).replace(/^auditrum: /, ''));
        throw error;
      } finally {
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
        await pool.end();
      }
    });
}

function checkedSince(since: string): string {
  try {
    return parseInstant(since, '--since time');
  } catch (error) {
    throw new UsageError(errorMessage(error).replace(/^auditrum: /, ''));
  }
}

function checkSinkFlags(flags: ExportFlags): void {
  if (flags.file !== undefined && flags.webhook !== undefined) {
    throw new UsageError('--file and --webhook are two sinks: give one (or neither, for stdout)');
  }
  if (flags.file === undefined && (flags.rotateSize !== undefined || flags.rotateInterval !== undefined)) {
    throw new UsageError('--rotate-size and --rotate-interval need --file');
  }
  if (flags.webhook === undefined && (flags.webhookHeader.length > 0 || flags.webhookAttempts !== 10)) {
    throw new UsageError('--webhook-header and --webhook-attempts need --webhook');
  }
  // resolve() would make '' the working directory and drop a trailing slash: the files would be named after a
  // directory, in the one above it.
  if (flags.file !== undefined && (flags.file === '' || /[/\\]$/.test(flags.file))) {
    throw new UsageError('--file: give a path and a name for the files (e.g. exports/audit), not a directory');
  }
  if (flags.webhook !== undefined) {
    let url: URL | undefined;
    try {
      url = new URL(flags.webhook);
    } catch {
      // refused below
    }
    if (url?.protocol !== 'http:' && url?.protocol !== 'https:') {
      throw new UsageError(`--webhook: ${JSON.stringify(flags.webhook)} is not an http or https URL`);
    }
    // fetch refuses such a URL at each try; the message it gives holds the password.
    if (url.username !== '' || url.password !== '') {
      throw new UsageError(
        "--webhook: a URL with a user or password cannot be sent: give it as --webhook-header 'Authorization: Basic …'",
      );
    }
  }
}

function openSink(
  flags: ExportFlags,
  cli: CliContext,
  format: (typeof EXPORT_FORMATS)[ExportFormatName],
  signal: AbortSignal,
): ExportSink {
  if (flags.file !== undefined) {
    return fileSink(resolve(cli.io.cwd, flags.file), format, {
      rotateBytes: flags.rotateSize,
      rotateSeconds: flags.rotateInterval,
    });
  }
  if (flags.webhook !== undefined) {
    const headers = Object.fromEntries(
      flags.webhookHeader.map((line) => {
        const colon = line.indexOf(':');
        return [line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim()];
      }),
    );
    return webhookSink(flags.webhook, format, { maxAttempts: flags.webhookAttempts, headers, signal });
  }
  return stdoutSink(
    cli.io.stdout,
    cli.io.stdoutDrained ?? (async () => undefined),
    cli.io.stdoutClosed ?? (() => false),
  );
}
