import type { RestorePlan, WriteResponse } from '@auditrum/core/admin';
import { act, cleanup, fireEvent, screen, waitFor, within } from '@testing-library/react';
import { afterEach, describe, expect, it } from 'vitest';
import { historyResponse, insertChange, stubFetch, updateChange } from './fixtures.ts';
import { BASE, openAt } from './open-admin.tsx';

const tablesResponse = (canWrite: boolean) => ({ tables: [{ id: 1, schema: 'public', table: 'orders' }], canWrite });

const revertPlan: RestorePlan = {
  operation: 'revert',
  statements: [
    {
      table: 'public.orders',
      rowKey: '7',
      operation: 'UPDATE',
      sql: 'UPDATE public.orders SET status = r.status FROM jsonb_to_record($1) AS r(status text) WHERE id = $2',
      params: ['{"status":"draft"}', '7'],
      reverts: ['41'],
      diff: [{ column: 'status', from: 'paid', to: 'draft' }],
    },
  ],
  conflicts: [],
  unrestorable: [],
};

let fetchStub: ReturnType<typeof stubFetch> | undefined;
afterEach(() => {
  cleanup();
  fetchStub?.restore();
  fetchStub = undefined;
  delete window.__AUDITRUM_ADMIN__;
});

/** A write route that answers a dry run with `plan` and a write with `written` (or a refusal). */
function writeRoute(plan: RestorePlan, written: (body: Record<string, unknown>) => { status: number; body: unknown }) {
  return (_url: URL, body: unknown) => {
    const request = body as Record<string, unknown>;
    if (request.dryRun === true) {
      return { status: 200, body: { plan, applied: false, changeIds: [] } satisfies WriteResponse };
    }
    return written(request);
  };
}

describe('writes from the admin', () => {
  it('shows no write button when api/tables says the user may not write', async () => {
    fetchStub = stubFetch({
      [`${BASE}/api/tables`]: tablesResponse(false),
      [`${BASE}/api/changes/41`]: { change: updateChange(), request: null },
      [`${BASE}/api/history`]: historyResponse(),
    });
    openAt('/changes/41');
    expect(await screen.findByRole('heading', { name: /UPDATE public\.orders/ })).toBeTruthy();
    await waitFor(() => expect(fetchStub?.calls).toContain(`${BASE}/api/tables`));
    await act(async () => {});
    expect(screen.queryByRole('button', { name: 'Revert this change' })).toBeNull();
    expect(screen.queryByRole('button', { name: /Undo/ })).toBeNull();
    expect(fetchStub.posts).toEqual([]);
  });

  it('reverts a change: the dry run diff first, a reason required, then a link to the new change', async () => {
    fetchStub = stubFetch({
      [`${BASE}/api/tables`]: tablesResponse(true),
      [`${BASE}/api/changes/41`]: { change: updateChange(), request: null },
      [`${BASE}/api/history`]: historyResponse(),
      [`${BASE}/api/revert`]: writeRoute(revertPlan, () => ({
        status: 200,
        body: { plan: revertPlan, applied: true, changeIds: ['57'], requestId: 'r-restore-1' },
      })),
    });
    openAt('/changes/41');
    fireEvent.click(await screen.findByRole('button', { name: 'Revert this change' }));
    const dialog = await screen.findByRole('dialog', { name: /Revert change 41/ });
    expect(document.getElementById('root')?.inert).toBe(true);
    expect(document.activeElement).toBe(dialog);
    // The server's dry run: the exact target, nothing written, and its diff shown.
    await within(dialog).findByText('Update public.orders · key', { exact: false });
    expect(fetchStub.posts).toEqual([{ path: `${BASE}/api/revert`, body: { change: '41', dryRun: true } }]);
    const row = within(dialog).getByText('status').closest('tr') as HTMLElement;
    expect(row.textContent).toContain('paid');
    expect(row.textContent).toContain('draft');
    const confirm = within(dialog).getByRole('button', { name: 'Confirm' }) as HTMLButtonElement;
    expect(confirm.disabled).toBe(true);
    fireEvent.change(within(dialog).getByLabelText(/Reason/), { target: { value: '  wrong status  ' } });
    expect(confirm.disabled).toBe(false);
    await act(async () => {
      fireEvent.click(confirm);
    });
    expect(fetchStub.posts[1]).toEqual({ path: `${BASE}/api/revert`, body: { change: '41', reason: 'wrong status' } });
    const done = await within(dialog).findByRole('status');
    expect(done.textContent).toContain('1 change written');
    expect(within(done).getByRole('link', { name: 'New change 57' }).getAttribute('href')).toBe(`${BASE}/changes/57`);
    expect(within(done).getByRole('link', { name: 'All changes of this restore' }).getAttribute('href')).toBe(
      `${BASE}/changes?request=r-restore-1`,
    );
  });

  it('shows the conflicts: a blocking one disables the write, a forcible one needs "write anyway"', async () => {
    const conflict = {
      kind: 'changed-since' as const,
      table: 'public.orders',
      rowKey: '7',
      reverts: '41',
      changeId: '45',
      columns: ['status'],
      message: 'public.orders 7: change 45 changed status since',
    };
    let forced: unknown;
    fetchStub = stubFetch({
      [`${BASE}/api/tables`]: tablesResponse(true),
      [`${BASE}/api/changes/41`]: { change: updateChange(), request: null },
      [`${BASE}/api/history`]: historyResponse(),
      [`${BASE}/api/revert`]: writeRoute({ ...revertPlan, conflicts: [{ ...conflict, forcible: true }] }, (body) => {
        forced = body.force;
        return { status: 200, body: { plan: revertPlan, applied: true, changeIds: ['58'] } };
      }),
      [`${BASE}/api/changes`]: { items: [updateChange(), insertChange()], nextCursor: null },
      [`${BASE}/api/undo`]: writeRoute(
        { ...revertPlan, operation: 'undo', conflicts: [{ ...conflict, kind: 'row-missing', forcible: false }] },
        () => ({ status: 500, body: {} }),
      ),
    });
    openAt('/transactions/7781');
    fireEvent.click(await screen.findByRole('button', { name: 'Undo all 2 changes' }));
    let dialog = await screen.findByRole('dialog', { name: /transaction 7781/ });
    expect(fetchStub.calls).toContain(`${BASE}/api/changes?txid=7781&limit=200`);
    expect(fetchStub.posts.at(-1)?.body).toEqual({ txid: '7781', dryRun: true });
    expect((await within(dialog).findByText(/change 45 changed status since/)).textContent).toContain(
      'blocks the write',
    );
    fireEvent.change(within(dialog).getByLabelText(/Reason/), { target: { value: 'x' } });
    expect((within(dialog).getByRole('button', { name: 'Confirm' }) as HTMLButtonElement).disabled).toBe(true);
    expect(within(dialog).queryByLabelText(/Write anyway/)).toBeNull();
    fireEvent.click(within(dialog).getByRole('button', { name: 'Cancel' }));
    expect(screen.queryByRole('dialog')).toBeNull();
    expect(document.getElementById('root')?.inert).toBe(false);
    expect(document.activeElement).toBe(screen.getByRole('button', { name: 'Undo all 2 changes' }));

    // The change's transaction links to this page.
    await act(async () => {
      fireEvent.click(screen.getAllByRole('link', { name: /Change 41/ })[0] as HTMLElement);
    });
    expect((await screen.findByRole('link', { name: '7781' })).getAttribute('href')).toBe(`${BASE}/transactions/7781`);
    fireEvent.click(await screen.findByRole('button', { name: 'Revert this change' }));
    dialog = await screen.findByRole('dialog', { name: /Revert change 41/ });
    expect((await within(dialog).findByText(/change 45 changed status since/)).textContent).toContain(
      'can be overridden',
    );
    fireEvent.change(within(dialog).getByLabelText(/Reason/), { target: { value: 'put it back' } });
    const confirm = within(dialog).getByRole('button', { name: 'Confirm' }) as HTMLButtonElement;
    expect(confirm.disabled).toBe(true);
    fireEvent.click(within(dialog).getByLabelText(/Write anyway/));
    await act(async () => {
      fireEvent.click(confirm);
    });
    expect(await within(dialog).findByRole('link', { name: 'New change 58' })).toBeTruthy();
    expect(forced).toBe(true);
  });

  it('shows a refused write in the server words with its plan, and lets the user try again', async () => {
    fetchStub = stubFetch({
      [`${BASE}/api/tables`]: tablesResponse(true),
      [`${BASE}/api/changes/41`]: { change: updateChange(), request: null },
      [`${BASE}/api/history`]: historyResponse(),
      [`${BASE}/api/revert`]: writeRoute(revertPlan, () => ({
        status: 409,
        body: {
          error: {
            code: 'conflict',
            message: 'public.orders 7: changed since the plan',
            plan: {
              ...revertPlan,
              conflicts: [
                {
                  kind: 'changed-since',
                  table: 'public.orders',
                  rowKey: '7',
                  reverts: '41',
                  changeId: '46',
                  forcible: true,
                  message: 'change 46 changed status since',
                },
              ],
            },
          },
        },
      })),
    });
    openAt('/changes/41');
    fireEvent.click(await screen.findByRole('button', { name: 'Revert this change' }));
    const dialog = await screen.findByRole('dialog');
    await within(dialog).findByText('SQL');
    fireEvent.change(within(dialog).getByLabelText(/Reason/), { target: { value: 'because' } });
    await act(async () => {
      fireEvent.click(within(dialog).getByRole('button', { name: 'Confirm' }));
    });
    const alert = await within(dialog).findByRole('alert');
    expect(alert.textContent).toContain('Not written');
    expect(alert.textContent).toContain('changed since the plan');
    expect(within(dialog).getByText(/change 46 changed status since/)).toBeTruthy();
    expect((within(dialog).getByLabelText(/Reason/) as HTMLTextAreaElement).value).toBe('because');
    expect(within(dialog).getByLabelText(/Write anyway/)).toBeTruthy();
  });

  it('restores a version of a row from its history: just before the next version, or undeletes a deleted row', async () => {
    const deleted = updateChange({
      id: '44',
      changedAt: '2026-11-26T10:30:00.000Z',
      operation: 'DELETE',
      oldValues: { id: 7, status: 'paid' },
      newValues: null,
      changedColumns: null,
    });
    fetchStub = stubFetch({
      [`${BASE}/api/tables`]: tablesResponse(true),
      [`${BASE}/api/history`]: historyResponse([
        { change: insertChange(), state: { id: 7, status: 'draft' }, oversized: [], erased: [], complete: true },
        { change: updateChange(), state: { id: 7, status: 'paid' }, oversized: [], erased: [], complete: true },
        { change: deleted, state: null, oversized: [], erased: [], complete: true },
      ]),
      [`${BASE}/api/restore`]: writeRoute({ ...revertPlan, operation: 'restore' }, () => ({ status: 500, body: {} })),
      [`${BASE}/api/undelete`]: writeRoute({ ...revertPlan, operation: 'undelete' }, () => ({ status: 500, body: {} })),
    });
    openAt('/history?table=public.orders&key=7');
    const restoreButtons = await screen.findAllByRole('button', { name: 'Restore this version' });
    expect(restoreButtons).toHaveLength(2);
    // Newest first: the last button is version 1 (the INSERT), put back as it was just before version 2.
    fireEvent.click(restoreButtons.at(-1) as HTMLElement);
    await within(await screen.findByRole('dialog')).findByText('SQL');
    expect(fetchStub.posts.at(-1)).toEqual({
      path: `${BASE}/api/restore`,
      body: { table: 'public.orders', key: '7', beforeChange: '41', dryRun: true },
    });
    fireEvent.click(screen.getByRole('button', { name: 'Cancel' }));
    fireEvent.click(screen.getByRole('button', { name: 'Restore this row' }));
    await within(await screen.findByRole('dialog')).findByText('SQL');
    expect(fetchStub.posts.at(-1)).toEqual({
      path: `${BASE}/api/undelete`,
      body: { table: 'public.orders', key: '7', dryRun: true },
    });
  });

  it('links a restore’s own change to the changes it reverses', async () => {
    fetchStub = stubFetch({
      [`${BASE}/api/tables`]: tablesResponse(false),
      [`${BASE}/api/changes/57`]: {
        change: updateChange({
          id: '57',
          source: 'restore',
          reason: 'wrong status',
          context: {
            source: 'restore',
            reason: 'wrong status',
            reverts: ['41', '44'],
            path: '/audit-admin/api/revert',
          },
        }),
        request: null,
      },
      [`${BASE}/api/history`]: { versions: [], firstNumber: 1, nextCursor: null, newer: null, stateAt: null },
    });
    openAt('/changes/57');
    const facts = (await screen.findByText('Reverses')).closest('dl') as HTMLElement;
    expect(within(facts).getByRole('link', { name: 'change 41' }).getAttribute('href')).toBe(`${BASE}/changes/41`);
    expect(within(facts).getByRole('link', { name: 'change 44' }).getAttribute('href')).toBe(`${BASE}/changes/44`);
    expect(document.body.textContent).not.toContain('reverts');
  });

  it("lists a table's recycle bin with a Restore per row", async () => {
    fetchStub = stubFetch({
      [`${BASE}/api/tables`]: tablesResponse(true),
      [`${BASE}/api/deleted`]: {
        items: [
          {
            changeId: '44',
            deletedAt: '2026-11-26T10:30:00.000Z',
            rowKey: '7',
            values: { id: 7, status: 'paid', card: 'hmac:00' },
            unknown: [{ column: 'card', reason: 'masked' }],
            actorId: '2',
            requestId: null,
            reason: 'cleanup',
          },
        ],
        nextCursor: null,
      },
      [`${BASE}/api/undelete`]: writeRoute({ ...revertPlan, operation: 'undelete' }, () => ({ status: 500, body: {} })),
    });
    openAt('/deleted?table=public.orders');
    expect(await screen.findByRole('heading', { name: 'Recycle bin of public.orders' })).toBeTruthy();
    expect(fetchStub.calls).toContain(`${BASE}/api/deleted?table=public.orders`);
    expect(screen.getByText(/reason: cleanup/)).toBeTruthy();
    expect(screen.getByText(/Not restorable: card \(masked\)/)).toBeTruthy();
    fireEvent.click(await screen.findByRole('button', { name: 'Restore' }));
    await within(await screen.findByRole('dialog')).findByText('SQL');
    expect(fetchStub.posts.at(-1)?.body).toEqual({ table: 'public.orders', key: '7', dryRun: true });
  });

  it('undoes all of a request’s changes from its page', async () => {
    fetchStub = stubFetch({
      [`${BASE}/api/tables`]: tablesResponse(true),
      [`${BASE}/api/requests/r1`]: { request: null, changes: [updateChange(), insertChange()], changeCount: 2 },
      [`${BASE}/api/undo`]: writeRoute({ ...revertPlan, operation: 'undo' }, () => ({ status: 500, body: {} })),
    });
    openAt('/requests/r1');
    fireEvent.click(await screen.findByRole('button', { name: 'Undo all 2 changes' }));
    await within(await screen.findByRole('dialog')).findByText('SQL');
    expect(fetchStub.posts.at(-1)?.body).toEqual({ request: 'r1', dryRun: true });
  });
});
