import { afterAll, beforeAll, expect, it } from 'vitest';
import { startGateway, type TestGateway } from '../support/stack.js';

let stack: TestGateway;
beforeAll(async () => {
  stack = await startGateway();
});
afterAll(async () => {
  await stack?.close();
});

interface OpenApiDoc {
  openapi: string;
  info: { title: string };
  paths: Record<string, Record<string, { security?: unknown[] }>>;
  components: { securitySchemes: Record<string, unknown> };
}

it('serves the account API’s OpenAPI document and Swagger UI on the public listener', async () => {
  const base = stack.mcpUrl.replace(/\/mcp$/, '');
  const doc = (await (await fetch(`${base}/docs/json`)).json()) as OpenApiDoc;
  expect(doc.openapi).toMatch(/^3\.1/);
  expect(doc.info.title).toBe('Tollgate account API');
  expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(['/v1/me', '/v1/org', '/v1/org/members', '/v1/keys', '/v1/keys/{keyId}/revoke', '/v1/keys/{keyId}/rotate']));
  expect(doc.paths['/v1/keys']!.post!.security).toEqual([{ apiKey: [] }]);
  expect(Object.keys(doc.paths).some((p) => p.startsWith('/admin'))).toBe(false);
  const ui = await fetch(`${base}/docs`, { redirect: 'follow' });
  expect(ui.status).toBe(200);
  expect(await ui.text()).toMatch(/swagger/i);
});

it('serves the admin API’s OpenAPI document on the admin listener only', async () => {
  const doc = (await (await fetch(`${stack.adminUrl}/docs/json`)).json()) as OpenApiDoc;
  expect(doc.info.title).toBe('Tollgate admin API');
  expect(Object.keys(doc.paths)).toEqual(
    expect.arrayContaining(['/admin/v1/plans', '/admin/v1/orgs', '/admin/v1/orgs/{orgId}/plan', '/admin/v1/orgs/{orgId}/keys', '/admin/v1/users', '/admin/v1/audit']),
  );
  expect(doc.components.securitySchemes).toHaveProperty('staffToken');
  expect(Object.keys(doc.paths).some((p) => p.startsWith('/v1/'))).toBe(false);
});
