import type { Command } from 'commander';
import { addApplicationRole, listApplicationRoles, removeApplicationRole } from '../../tracking/application-roles.js';
import type { CliContext } from '../cli-context.js';
import { withDatabase } from '../database.js';
import { globalOptions } from '../global-options.js';
import { textTable } from '../text-table.js';

export function addAppRoleCommand(program: Command, cli: CliContext): void {
  const appRole = program
    .command('app-role')
    .description("the database roles whose context is trusted (the application's); others' is kept as claimed");
  appRole
    .command('add')
    .description("trust a role's context and grant it what the app needs at run time (as the schema owner)")
    .argument('<role>', 'the database role the application logs in as (quoted as in SQL when mixed-case)')
    .action(async (role: string, _options: unknown, command: Command) => {
      const { url, schema } = globalOptions(command, cli.io);
      const result = await withDatabase(url, (client) => addApplicationRole(client, schema, role));
      cli.print(result.action === 'added' ? `added ${role}` : `${role} is already an application role`);
    });
  appRole
    .command('remove')
    .description("stop trusting a role's context (its grants stay; as the schema owner)")
    .argument('<role>', 'the database role')
    .action(async (role: string, _options: unknown, command: Command) => {
      const { url, schema } = globalOptions(command, cli.io);
      const result = await withDatabase(url, (client) => removeApplicationRole(client, schema, role));
      cli.print(result.action === 'removed' ? `removed ${role}` : `${role} is not an application role`);
    });
  appRole
    .command('list')
    .description('list the application roles')
    .option('--json', 'print them as JSON')
    .action(async (options: { json?: boolean }, command: Command) => {
      const { url, schema } = globalOptions(command, cli.io);
      const roles = await withDatabase(url, (client) => listApplicationRoles(client, schema));
      if (options.json) {
        cli.print(JSON.stringify(roles, null, 2));
        return;
      }
      if (roles.length === 0) {
        cli.print('no application roles: no context is trusted');
        return;
      }
      const rows = roles.map((role) => [
        role.exists ? role.name : `${role.name} (dropped)`,
        role.addedAt.toISOString(),
        role.addedBy,
      ]);
      cli.io.stdout(textTable([['ROLE', 'ADDED', 'BY'], ...rows]));
    });
}
