import pg from 'pg';
import { inject } from 'vitest';
import { migrate } from '../../platform/pg/migrate.js';

/**
 * A fresh, migrated database beside the suite's (`<suite db>_<name>`), for a test that needs
 * to see every row (a sweep over all organizations) without other test files' data.
 */
export async function scratchDatabase(name: string): Promise<{ ownerUrl: string; appUrl: string; drop(): Promise<void> }> {
  const suiteOwnerUrl = new URL(inject('databaseOwnerUrl'));
  const db = `${inject('databaseName')}_${name}`;
  const adminUrl = new URL(suiteOwnerUrl);
  adminUrl.pathname = '/postgres';
  const admin = async (sql: string) => {
    const client = new pg.Client({ connectionString: adminUrl.toString() });
    await client.connect();
    try {
      await client.query(sql);
    } finally {
      await client.end();
    }
  };
  await admin(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`);
  await admin(`CREATE DATABASE ${db}`);
  const ownerUrl = new URL(suiteOwnerUrl);
  ownerUrl.pathname = `/${db}`;
  await migrate(ownerUrl.toString());
  const appUrl = new URL(ownerUrl);
  appUrl.username = 'tollgate_app';
  return { ownerUrl: ownerUrl.toString(), appUrl: appUrl.toString(), drop: () => admin(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`) };
}
