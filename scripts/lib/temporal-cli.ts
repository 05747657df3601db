import { ensureGoBinary } from './go-binary.js';

/** The Temporal CLI release `go install` accepts (later ones carry a `replace` directive). */
export const TEMPORAL_CLI_MODULE = 'github.com/temporalio/cli/cmd/temporal@v1.5.1';

/**
 * Path of the Temporal CLI, building it once with `go install` into the cache when it is
 * missing (a few minutes the first time; reused afterwards). `TEMPORAL_CLI` overrides.
 */
export function ensureTemporalCli(say: (line: string) => void = console.log): Promise<string> {
  return ensureGoBinary({ name: 'temporal', module: TEMPORAL_CLI_MODULE, overrideEnv: 'TEMPORAL_CLI', expect: 'a few minutes' }, say);
}
