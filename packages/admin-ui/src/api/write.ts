import type { RestoreRequest, RevertRequest, UndeleteRequest, UndoRequest, WriteResponse } from '@auditrum/core/admin';
import { apiUrl, postJson } from './client.ts';

/** The admin's write routes and the body each takes (core's types: a renamed field fails the type check here). */
export interface WriteBodies {
  revert: RevertRequest;
  restore: RestoreRequest;
  undelete: UndeleteRequest;
  undo: UndoRequest;
}

export type WriteRoute = keyof WriteBodies;

/** One write the user may confirm: its route and its target (the body without reason, dryRun and force). */
export type WriteTarget = {
  [R in WriteRoute]: { route: R; body: Omit<WriteBodies[R], 'reason' | 'dryRun' | 'force'> };
}[WriteRoute];

/** What the server would do: the plan, its diff and conflicts; nothing is written. */
export function dryRun(target: WriteTarget, signal?: AbortSignal): Promise<WriteResponse> {
  return postJson<WriteResponse>(apiUrl(target.route), { ...target.body, dryRun: true }, signal);
}

/** Runs the write with the user's reason; `force` overrides the conflicts that may be overridden. */
export function runWrite(target: WriteTarget, reason: string, force: boolean): Promise<WriteResponse> {
  return postJson<WriteResponse>(apiUrl(target.route), { ...target.body, reason, ...(force ? { force: true } : {}) });
}
