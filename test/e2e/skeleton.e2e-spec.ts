import { DataSource } from 'typeorm';
import { dataSourceOptions } from '../../src/database/data-source-options.js';
import { startApp, type TestApp } from '../helpers/app.js';

describe('service skeleton', () => {
  let sut: TestApp;

  beforeAll(async () => {
    sut = await startApp();
  });
  afterAll(async () => {
    await sut.close();
  });

  it('reports liveness', async () => {
    const response = await fetch(`${sut.url}/health/live`);
    expect(response.status).toBe(200);
    await expect(response.json()).resolves.toEqual({ status: 'ok' });
  });

  it('is ready: database up, migrations applied; polling disabled without FinBox credentials', async () => {
    const response = await fetch(`${sut.url}/health/ready`);
    expect(response.status).toBe(200);
    const body: any = await response.json();
    expect(body.details.database.status).toBe('up');
    expect(body.details.migrations.status).toBe('up');
    expect(body.details.finbox).toMatchObject({ polling: 'disabled', circuit: 'closed' });
  });

  it('answers an unknown route with 404 in the error envelope', async () => {
    const response = await fetch(`${sut.url}/no/such/route`);
    expect(response.status).toBe(404);
    await expect(response.json()).resolves.toEqual({
      error: { code: 'NOT_FOUND', message: expect.any(String), details: [] },
    });
  });

  it('answers malformed JSON with 400 MALFORMED_JSON', async () => {
    const response = await sut.api('/v1/sessions', { method: 'POST', body: '{"session_id": ' });
    expect(response.status).toBe(400);
    const body: any = await response.json();
    expect(body.error.code).toBe('MALFORMED_JSON');
    expect(JSON.stringify(body)).not.toMatch(/at .*\.js/); // no stack trace
  });

  it('answers a non-JSON content type with 415', async () => {
    for (const contentType of ['text/plain', 'application/x-www-form-urlencoded', 'application/xml']) {
      const response = await sut.api('/v1/sessions', { method: 'POST', body: 'a=b', headers: { 'content-type': contentType } });
      expect(response.status).toBe(415);
      await expect(response.json()).resolves.toMatchObject({ error: { code: 'UNSUPPORTED_MEDIA_TYPE' } });
    }
  });

  it('answers a body over WEBHOOK_BODY_LIMIT_BYTES with 413', async () => {
    const big = JSON.stringify({ session_id: crypto.randomUUID(), event_name: 'X', pad: 'x'.repeat(1_100_000) });
    const response = await sut.webhook(big);
    expect(response.status).toBe(413);
    await expect(response.json()).resolves.toMatchObject({ error: { code: 'PAYLOAD_TOO_LARGE', details: [] } });
  });

  it('answers an invalid DTO with VALIDATION_FAILED and one detail per field', async () => {
    const response = await sut.api('/v1/sessions', {
      method: 'POST',
      body: JSON.stringify({ session_id: 'nope', reference: 'x'.repeat(129), metadata: 'string' }),
    });
    expect(response.status).toBe(400);
    const body: any = await response.json();
    expect(body.error.code).toBe('VALIDATION_FAILED');
    expect(body.error.details.map((detail: { field: string }) => detail.field).sort()).toEqual(
      ['metadata', 'reference', 'session_id'],
    );
  });

  it('tags every response with a request id', async () => {
    const response = await fetch(`${sut.url}/health/live`, { headers: { 'x-request-id': 'trace-123' } });
    expect(response.headers.get('x-request-id')).toBe('trace-123');
  });

  it('has entities that match the committed migrations', async () => {
    const dataSource = new DataSource(dataSourceOptions(sut.db.url, 2));
    await dataSource.initialize();
    try {
      const pending = await dataSource.driver.createSchemaBuilder().log();
      expect(pending.upQueries.map((query) => query.query)).toEqual([]);
    } finally {
      await dataSource.destroy();
    }
  });
});
