import { IncomingMessage, ServerResponse } from 'node:http';
import { Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import type { AuditScope } from '../src/context/audit-context.js';
import { currentAuditScope, inAuditScope } from '../src/context/audit-context.js';
import { runEventsInScope } from '../src/http/message-events.js';
import { getAuditContext, withAuditContext, withChangeReason } from '../src/index.js';

function request(actor: string): { req: IncomingMessage; res: ServerResponse; scope: AuditScope } {
  const req = new IncomingMessage(new Socket());
  const res = new ServerResponse(req);
  const scope = withAuditContext({ actor: { id: actor }, requestId: `r-${actor}` }, () => currentAuditScope());
  runEventsInScope(req, res, scope as AuditScope);
  return { req, res, scope: scope as AuditScope };
}

const seen = () => {
  const context = getAuditContext();
  return context && { actor: context.actor?.id, requestId: context.requestId, reason: context.reason };
};

describe("the events of a request's messages", () => {
  it("run in the request's scope when emitted from no scope or from another request's", () => {
    const a = request('a');
    const b = request('b');
    const events: unknown[] = [];
    b.req.on('end', () => events.push(['b end', seen()]));
    b.res.on('finish', () => events.push(['b finish', seen()]));
    b.req.emit('end');
    // Request a's code (its scope current) makes b's response finish: b's listener runs as b, never as a.
    expect(withAuditContext({ actor: { id: 'a' } }, () => b.res.emit('finish'))).toBe(true);
    a.req.on('close', () => events.push(['a close', seen()]));
    a.req.emit('close');
    expect(events).toEqual([
      ['b end', { actor: 'b', requestId: 'r-b', reason: undefined }],
      ['b finish', { actor: 'b', requestId: 'r-b', reason: undefined }],
      ['a close', { actor: 'a', requestId: 'r-a', reason: undefined }],
    ]);
  });

  it('keep a scope opened inside the request, and leave other messages alone', () => {
    const a = request('a');
    const events: unknown[] = [];
    a.res.on('custom', () => events.push(['a custom', seen()]));
    // A handler of request a opens a scope of its own (a reason) and something in it emits: the reason stays.
    expect(inAuditScope(a.scope, () => withChangeReason('refund', () => a.res.emit('custom')))).toBe(true);
    // Another request's inner scope is not a's: a's events run as a.
    expect(withAuditContext({ actor: { id: 'z' } }, () => withChangeReason('other', () => a.res.emit('custom')))).toBe(
      true,
    );
    const other = new IncomingMessage(new Socket());
    other.on('end', () => events.push(['other end', seen()]));
    other.emit('end');
    expect(withAuditContext({ actor: { id: 'z' } }, () => other.emit('end'))).toBe(true);
    expect(events).toEqual([
      ['a custom', { actor: 'a', requestId: 'r-a', reason: 'refund' }],
      ['a custom', { actor: 'a', requestId: 'r-a', reason: undefined }],
      ['other end', undefined],
      ['other end', { actor: 'z', requestId: undefined, reason: undefined }],
    ]);
  });
});
