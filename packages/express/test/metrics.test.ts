import type { AddressInfo } from 'node:net';
import { auditMetrics } from '@auditrum/express';
import express from 'express';
import { expect, it } from 'vitest';

it('auditMetrics() serves Prometheus metrics, Auditrum’s among them', async () => {
  const app = express();
  app.get('/metrics', auditMetrics());
  const server = app.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  try {
    const response = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/metrics`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(await response.text()).toContain('# TYPE auditrum_api_log_rows_total counter');
  } finally {
    await new Promise((resolve) => server.close(resolve));
  }
});
