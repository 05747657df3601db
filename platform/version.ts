import { readFileSync } from 'node:fs';

/**
 * The running build's version (the package's), as logs, the status report, the OpenAPI
 * documents and the MCP server info report it. Read once at start-up.
 */
export const VERSION: string = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
