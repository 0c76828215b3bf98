import type { FieldChange, PlannedStatement, RestorePlan } from '@auditrum/core/admin';
import { diffRecords } from '../lib/diff.ts';
import { DiffView } from './DiffView.tsx';

/** A statement's diff as the row's values before and after it (null: the row does not exist on that side). */
function sides(statement: PlannedStatement): [Record<string, unknown> | null, Record<string, unknown> | null] {
  const side = (pick: (field: FieldChange) => unknown) =>
    Object.fromEntries(
      statement.diff.flatMap((field) => (pick(field) === undefined ? [] : [[field.column, pick(field)]])),
    );
  return [
    statement.operation === 'INSERT' ? null : side((field) => field.from),
    statement.operation === 'DELETE' ? null : side((field) => field.to),
  ];
}

const STATEMENT_VERB: Record<PlannedStatement['operation'], string> = {
  UPDATE: 'Update',
  INSERT: 'Insert again',
  DELETE: 'Delete',
};

/**
 * What a write will do, as the server's dry run planned it: per statement the row and its diff (with the exact
 * SQL folded), then the conflicts found and the values that cannot be put back, each in the server's words.
 */
export function PlanView({ plan }: { plan: RestorePlan }) {
  return (
    <div className="plan">
      {plan.statements.length === 0 ? (
        <p>Nothing to write: the data is already as it would be put back.</p>
      ) : (
        <ol className="plan-statements">
          {plan.statements.map((statement, index) => {
            const [before, after] = sides(statement);
            return (
              <li key={index} className="plan-statement">
                <h3>
                  {STATEMENT_VERB[statement.operation]} {statement.table} · key{' '}
                  <span className="mono">{statement.rowKey}</span>
                </h3>
                <DiffView entries={diffRecords(before, after)} />
                <details>
                  <summary>SQL</summary>
                  <pre className="json">{statement.sql}</pre>
                </details>
              </li>
            );
          })}
        </ol>
      )}
      {plan.conflicts.length > 0 && (
        <section className="plan-problems" aria-labelledby="conflicts-title">
          <h3 id="conflicts-title">Conflicts ({plan.conflicts.length})</h3>
          <ul className="plan-list">
            {plan.conflicts.map((conflict) => (
              <li key={`${conflict.kind}:${conflict.rowKey}:${conflict.reverts}:${conflict.changeId ?? ''}`}>
                {conflict.message}{' '}
                <span className="badge">{conflict.forcible ? 'can be overridden' : 'blocks the write'}</span>
              </li>
            ))}
          </ul>
        </section>
      )}
      {plan.unrestorable.length > 0 && (
        <section className="plan-problems" aria-labelledby="unrestorable-title">
          <h3 id="unrestorable-title">Cannot be put back ({plan.unrestorable.length})</h3>
          <ul className="plan-list">
            {plan.unrestorable.map((item) => (
              <li key={`${item.rowKey ?? ''}:${item.column ?? ''}:${item.reason}:${item.changeId ?? ''}`}>
                {item.message}
                {item.blocking && <span className="badge">left as it is only when forced</span>}
              </li>
            ))}
          </ul>
        </section>
      )}
    </div>
  );
}
