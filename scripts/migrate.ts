import { loadConfig } from '../platform/config.js';
import { ensureDatabase, migrate } from '../platform/pg/migrate.js';

/** `npm run migrate`: creates the database if needed and applies pending migrations (as the owner role). */
const config = loadConfig();
const createdDb = await ensureDatabase(config.postgres.ownerUrl);
if (createdDb) console.log(`created database ${new URL(config.postgres.ownerUrl).pathname.slice(1)}`);
const result = await migrate(config.postgres.ownerUrl, (m) => console.log(m));
console.log(result.applied.length ? `applied ${result.applied.length} migration(s)` : `up to date (${result.alreadyApplied} applied)`);
