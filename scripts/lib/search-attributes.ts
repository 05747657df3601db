import type { Connection } from '@temporalio/client';
import proto from '@temporalio/proto';
import { SA } from '../../core/temporal/search-attributes.js';

/**
 * Registers the platform's custom search attributes on `namespace` (idempotent). The dev
 * server started by the scripts registers them itself; this covers a reused server and
 * production namespaces (`npm run temporal:setup`).
 */
export async function ensureSearchAttributes(connection: Connection, namespace: string): Promise<string[]> {
  const existing = await connection.operatorService.listSearchAttributes({ namespace });
  const missing = Object.values(SA).filter((k) => !(k.name in (existing.customAttributes ?? {})));
  if (missing.length === 0) return [];
  await connection.operatorService.addSearchAttributes({
    namespace,
    searchAttributes: Object.fromEntries(missing.map((k) => [k.name, proto.temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD])),
  });
  return missing.map((k) => k.name);
}
