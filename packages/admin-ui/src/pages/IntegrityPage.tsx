import type {
  ErasureEvent,
  IntegrityResponse,
  IntegrityUnreadable,
  PurgeEvent,
  SealEvent,
  VerificationEvent,
} from '@auditrum/core/admin';
import type { ReactNode } from 'react';
import { useRoute } from '../api/routes.ts';
import { Pager } from '../components/Pager.tsx';
import { Empty, Loaded } from '../components/states.tsx';
import { Time } from '../components/Time.tsx';
import { apiLogVisible } from '../config.ts';
import { countText, roughly } from '../lib/counts.ts';
import { Link } from '../router/Link.tsx';
import type { AppLocation } from '../router/location.ts';
import { withQuery } from '../router/location.ts';

type Readable = Extract<IntegrityResponse, { readable: true }>;
type Health = 'ok' | 'problem' | 'none';

/**
 * The integrity panel: whether the tamper-evident chain is kept up (the last seal, the rows waiting for one), whether
 * it was checked (the last verify and its result), how old the newest signed checkpoint is, and what left the log on
 * purpose: the purges and the erasures, as events. Each part says plainly when it never happened.
 */
export function IntegrityPage({ location }: { location: AppLocation }) {
  const cursor = location.search.get('cursor');
  const status = useRoute('integrity', { cursor });
  return (
    <>
      <h1>Integrity</h1>
      <Loaded result={status} what="the chain’s status">
        {(data) => (data.readable ? <Panel status={data} location={location} /> : <Unreadable status={data} />)}
      </Loaded>
    </>
  );
}

/** A role's name as SQL writes it: quoted unless it is a plain lower-case identifier (the names in `missing` are). */
function sqlIdentifier(name: string): string {
  return /^[a-z_][a-z0-9_$]*$/.test(name) ? name : `"${name.replaceAll('"', '""')}"`;
}

function Unreadable({ status }: { status: IntegrityUnreadable }) {
  const tables = status.missing.filter((name) => !name.endsWith(')'));
  const functions = status.missing.filter((name) => name.endsWith(')'));
  const role = sqlIdentifier(status.role);
  return (
    <div className="panel integrity-state integrity-problem" role="alert">
      <p className="state-title">The admin cannot read the chain</p>
      <p>
        Its database role <span className="mono">{status.role}</span> may not read {status.missing.join(', ')}. Grant
        them, or run <span className="mono">auditrum harden</span> with this role as the application role:
      </p>
      <pre className="ddl">
        {[
          ...(tables.length > 0 ? [`GRANT SELECT ON ${tables.join(', ')} TO ${role};`] : []),
          ...functions.map((fn) => `GRANT EXECUTE ON FUNCTION ${fn} TO ${role};`),
        ].join('\n')}
      </pre>
    </div>
  );
}

function Panel({ status, location }: { status: Readable; location: AppLocation }) {
  return (
    <>
      <div className="integrity-grid">
        <SealSection status={status} />
        <VerifySection status={status} />
        <CheckpointSection status={status} />
      </div>
      <PurgeSection status={status} />
      <ErasureSection status={status} location={location} />
    </>
  );
}

/** A part of the panel: its title with a word for its health (not colour alone), then what it found. */
function Section({
  id,
  title,
  health,
  summary,
  children,
}: {
  id: string;
  title: string;
  health: Health;
  summary: ReactNode;
  children?: ReactNode;
}) {
  return (
    <section aria-labelledby={id} className={`panel integrity-section integrity-${health}`}>
      <h2 id={id}>
        {title} <span className={`badge badge-${health}`}>{HEALTH_LABEL[health]}</span>
      </h2>
      <p className="integrity-summary">{summary}</p>
      {children}
    </section>
  );
}

const HEALTH_LABEL: Record<Health, string> = { ok: 'ok', problem: 'attention', none: 'not set up' };

function SealSection({ status }: { status: Readable }) {
  const { lastSeal, chain, sealState, maxSealAgeHours } = status;
  const waiting = `${unsealedRows(chain)} not sealed yet`;
  const summary =
    sealState === 'never' ? (
      <>
        Never sealed: {waiting}. Run <span className="mono">auditrum seal</span> on a schedule (every few minutes).
      </>
    ) : sealState === 'stale' ? (
      <>
        Last sealed {hours(lastSeal?.ageHours ?? 0)} ago, longer than {maxSealAgeHours} hours (doctor's limit): rows
        written since are not tamper-evident yet. {waiting}.
      </>
    ) : (
      <>
        Sealed {hours(lastSeal?.ageHours ?? 0)} ago; {waiting}.
      </>
    );
  return (
    <Section
      id="seal-title"
      title="Sealing"
      health={sealState === 'never' ? 'none' : sealState === 'stale' ? 'problem' : 'ok'}
      summary={summary}
    >
      <dl className="facts">
        <dt>Chain length</dt>
        <dd>{count(Number(chain.links), 'link')}</dd>
        <dt>Rows not sealed yet</dt>
        <dd>{countText(chain.unsealed, chain.unsealedEstimated)}</dd>
        <dt>Seal runs</dt>
        <dd>{chain.seals.toLocaleString('en')}</dd>
        {lastSeal && <SealFacts seal={lastSeal} />}
      </dl>
    </Section>
  );
}

function SealFacts({ seal }: { seal: SealEvent }) {
  return (
    <>
      <dt>Last seal</dt>
      <dd>
        #{seal.id}, <Time iso={seal.sealedAt} />
      </dd>
      <dt>Sealed by</dt>
      <dd className="mono">{seal.sealedBy}</dd>
      <dt>Rows it sealed</dt>
      <dd>
        {seal.rows.toLocaleString('en')} (up to link {seal.lastSeq})
      </dd>
      <dt>Signed checkpoint</dt>
      <dd>
        {seal.signed ? (
          <>
            emitted, key{' '}
            <span className="mono" title={seal.checkpointKey ?? ''}>
              {seal.checkpointKey?.slice(0, 16)}…
            </span>
          </>
        ) : (
          'none (sealed without --sign-key)'
        )}
      </dd>
    </>
  );
}

function VerifySection({ status }: { status: Readable }) {
  const verification = status.lastVerification;
  if (verification === null) {
    return (
      <Section
        id="verify-title"
        title="Verification"
        health="none"
        summary={
          <>
            Never verified. Run <span className="mono">auditrum verify --checkpoints FILE --public-key FILE</span>{' '}
            daily; it records its result here.
          </>
        }
      />
    );
  }
  return (
    <Section
      id="verify-title"
      title="Verification"
      health={verified(verification) ? 'ok' : 'problem'}
      summary={
        <>
          {verifyResult(verification)}, {hours(verification.ageHours)} ago.
        </>
      }
    >
      <VerificationFacts verification={verification} />
    </Section>
  );
}

function verified(verification: VerificationEvent): boolean {
  return verification.problems === 0 && (verification.checkpointFailures ?? 0) === 0;
}

/** "Verified: 1,204 links hold" / "3 problems found"; erased rows are said apart, as they are no break. */
function verifyResult(verification: VerificationEvent): string {
  const failures = verification.checkpointFailures ?? 0;
  const result =
    verification.problems > 0
      ? `${count(verification.problems, 'problem')} found in ${count(Number(verification.links), 'link')}`
      : failures > 0
        ? `${count(failures, 'checkpoint')} not matching the chain`
        : `Verified: ${count(Number(verification.links), 'link')} hold`;
  return verification.erased > 0 ? `${result} (${count(verification.erased, 'erased row')}, not breaks)` : result;
}

function VerificationFacts({ verification }: { verification: VerificationEvent }) {
  return (
    <dl className="facts">
      <dt>Last verify</dt>
      <dd>
        #{verification.id}, <Time iso={verification.verifiedAt} />
      </dd>
      <dt>Run by</dt>
      <dd className="mono">{verification.verifiedBy}</dd>
      <dt>Problems</dt>
      <dd>{verification.problems.toLocaleString('en')}</dd>
      <dt>Erased rows</dt>
      <dd>{verification.erased.toLocaleString('en')}</dd>
      <dt>Checkpoints</dt>
      <dd>
        {verification.checkpoints === null
          ? 'none given (run without --checkpoints)'
          : `${verification.checkpoints.toLocaleString('en')} checked, ${(verification.checkpointFailures ?? 0).toLocaleString('en')} failed`}
      </dd>
    </dl>
  );
}

function CheckpointSection({ status }: { status: Readable }) {
  const fromVerify = status.lastCheckpointVerification;
  const fromSeal = status.lastSignedSeal;
  const newest = fromVerify?.newestCheckpointAt ?? null;
  const health: Health = fromSeal === null && newest === null ? 'none' : 'ok';
  return (
    <Section
      id="checkpoint-title"
      title="Signed checkpoints"
      health={health}
      summary={
        health === 'none' ? (
          <>
            No signed checkpoint yet: give <span className="mono">auditrum seal</span> a{' '}
            <span className="mono">--sign-key</span> kept off the database host, and keep the checkpoints it writes
            elsewhere.
          </>
        ) : (
          'Kept outside the database; only they show a chain cut short or rewritten whole.'
        )
      }
    >
      <dl className="facts">
        <dt>Newest checkpoint verified</dt>
        <dd>
          {newest !== null && fromVerify !== null ? (
            <>
              <Time iso={newest} /> ({hours(ageAt(newest, status.checkedAt))} old, in the file of verify #
              {fromVerify.id})
            </>
          ) : (
            <span className="muted">no verify was given a checkpoint file</span>
          )}
        </dd>
        <dt>Last signed seal</dt>
        <dd>
          {fromSeal !== null ? (
            <>
              #{fromSeal.id}, <Time iso={fromSeal.sealedAt} /> ({hours(fromSeal.ageHours)} old)
            </>
          ) : (
            <span className="muted">no seal emitted one</span>
          )}
        </dd>
      </dl>
    </Section>
  );
}

function PurgeSection({ status }: { status: Readable }) {
  const { total, recent } = status.purges;
  return (
    <section aria-labelledby="purges-title" className="panel">
      <h2 id="purges-title">Purges</h2>
      {total === 0 ? (
        <p className="muted">
          Nothing was purged. Retention runs with <span className="mono">auditrum purge --older-than '13 months'</span>.
        </p>
      ) : (
        <>
          <p className="integrity-summary">
            {count(total, 'purge run')} recorded (one per log per run)
            {total > recent.length ? `; the newest ${recent.length}:` : ':'}
          </p>
          <div className="table-scroll">
            <table className="grid integrity-table">
              <thead>
                <tr>
                  <th scope="col">When</th>
                  <th scope="col">Log</th>
                  <th scope="col">Older than</th>
                  <th scope="col">Cut-off</th>
                  <th scope="col">Rows removed</th>
                  <th scope="col">Partitions dropped</th>
                  <th scope="col">By</th>
                </tr>
              </thead>
              <tbody>
                {recent.map((purge) => (
                  <PurgeRow key={purge.id} purge={purge} />
                ))}
              </tbody>
            </table>
          </div>
        </>
      )}
    </section>
  );
}

function PurgeRow({ purge }: { purge: PurgeEvent }) {
  return (
    <tr>
      <td>
        <Time iso={purge.purgedAt} />
        {purge.finishedAt === null && <span className="badge badge-problem">stopped midway</span>}
      </td>
      <td className="mono">{purge.log}</td>
      <td>{purge.olderThan}</td>
      <td>
        <Time iso={purge.cutoff} />
      </td>
      <td>{purge.rows.toLocaleString('en')}</td>
      <td className="mono">{purge.droppedPartitions.length > 0 ? purge.droppedPartitions.join(', ') : '—'}</td>
      <td className="mono">{purge.purgedBy}</td>
    </tr>
  );
}

function ErasureSection({ status, location }: { status: Readable; location: AppLocation }) {
  const { total, items, nextCursor } = status.erasures;
  const later = location.search.get('cursor') !== null;
  return (
    <section aria-labelledby="erasures-title" className="panel">
      <h2 id="erasures-title">Erasures</h2>
      {total === 0 ? (
        <p className="muted">No erasure (GDPR art. 17) was recorded.</p>
      ) : (
        <>
          <p className="integrity-summary">
            {count(total, 'erasure')} recorded, newest first. Each replaced a person’s values with a marker; verify
            reports those rows as erased, not as tampered.
          </p>
          {items.length === 0 ? (
            <Empty>
              <p>No more erasures.</p>
            </Empty>
          ) : (
            <ol className="erasure-events">
              {items.map((erasure) => (
                <ErasureItem key={erasure.id} erasure={erasure} />
              ))}
            </ol>
          )}
          {(later || nextCursor !== null) && (
            <Pager path="/integrity" search={location.search} nextCursor={nextCursor} />
          )}
        </>
      )}
    </section>
  );
}

function ErasureItem({ erasure }: { erasure: ErasureEvent }) {
  return (
    <li className="erasure-event">
      <p className="erasure-head">
        <strong>Erasure #{erasure.id}</strong> · <Time iso={erasure.erasedAt} />
      </p>
      <dl className="facts">
        <dt>Reason</dt>
        <dd>{erasure.reason}</dd>
        <dt>Subject</dt>
        <dd>{subjectText(erasure)}</dd>
        <dt>Asked by</dt>
        <dd>{erasure.actor ?? <span className="muted">not given</span>}</dd>
        <dt>Run by</dt>
        <dd className="mono">{erasure.erasedBy}</dd>
        <dt>Erased</dt>
        <dd>
          {count(erasure.changes, 'change')}
          {erasure.changes > 0 && <> ({subjectLink(erasure)})</>},{' '}
          {erasure.apiRequests > 0 && apiLogVisible() ? (
            <Link to={withQuery('/requests', { erasure: erasure.id })}>{count(erasure.apiRequests, 'API call')}</Link>
          ) : (
            count(erasure.apiRequests, 'API call')
          )}{' '}
          masked
        </dd>
      </dl>
    </li>
  );
}

/**
 * Whose values, without the marker: an actor's (their id is not kept), or columns of one row, whose key is not kept
 * either when a key column was erased.
 */
function subjectText(erasure: ErasureEvent): string {
  const { subject, keyPseudonym } = erasure;
  if ('actor_id' in subject) return 'one actor’s changes and API calls';
  const columns = subject.columns.join(', ');
  if (keyPseudonym !== null) return `${subject.table}, one row (its key erased too): ${columns}`;
  return `${subject.table} key ${keyText(subject.key)}: ${columns}`;
}

function keyText(key: string | Record<string, unknown>): string {
  return typeof key === 'string' ? key : JSON.stringify(key);
}

/**
 * Where the erased changes are now: the changes the erasure touched, under the pseudonym it gave the actor or the key
 * (the `erasure` filter: a real actor or row may have the same id), or the row's history.
 */
function subjectLink(erasure: ErasureEvent): ReactNode {
  const { subject, actorPseudonym, keyPseudonym } = erasure;
  if (actorPseudonym !== null) {
    return <Link to={withQuery('/changes', { erasure: erasure.id })}>as {actorPseudonym}</Link>;
  }
  if ('actor_id' in subject) return null;
  if (keyPseudonym !== null) {
    return <Link to={withQuery('/changes', { erasure: erasure.id })}>as key {keyPseudonym}</Link>;
  }
  return <Link to={withQuery('/history', { table: subject.table, key: keyText(subject.key) })}>the row’s history</Link>;
}

/** The rows waiting for a seal: an estimate (the server counts only so many) says so and keeps two digits. */
function unsealedRows(chain: Readable['chain']): string {
  return chain.unsealedEstimated ? `about ${count(roughly(chain.unsealed), 'row')}` : count(chain.unsealed, 'row');
}

function count(n: number, noun: string): string {
  return `${n.toLocaleString('en')} ${noun}${n === 1 ? '' : 's'}`;
}

/** An age in words: minutes under an hour, hours under two days, then days. */
function hours(h: number): string {
  if (h * 60 < 1) return 'less than a minute';
  if (h < 1) return `${Math.round(h * 60)} min`;
  if (h < 48) return `${h.toFixed(1)} h`;
  return `${Math.floor(h / 24)} days`;
}

function ageAt(iso: string, checkedAt: string): number {
  return (Date.parse(checkedAt) - Date.parse(iso)) / 3_600_000;
}
