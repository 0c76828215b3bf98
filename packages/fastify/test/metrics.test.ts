import { auditMetrics } from '@auditrum/fastify';
import Fastify from 'fastify';
import { expect, it } from 'vitest';

it('auditMetrics() serves Prometheus metrics, Auditrum’s among them', async () => {
  const app = Fastify();
  app.get('/metrics', auditMetrics());
  try {
    const response = await app.inject({ method: 'GET', url: '/metrics' });
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(response.body).toContain('# TYPE auditrum_api_log_rows_total counter');
  } finally {
    await app.close();
  }
});
