import { ensureGoBinary } from './go-binary.js';

/**
 * Path of stripe-mock (Stripe's API stand-in, used by the billing tests), building it once
 * with `go install` into the cache when missing. `STRIPE_MOCK` overrides.
 */
export function ensureStripeMock(say: (line: string) => void = console.log): Promise<string> {
  return ensureGoBinary({ name: 'stripe-mock', module: 'github.com/stripe/stripe-mock@latest', overrideEnv: 'STRIPE_MOCK', expect: 'about a minute' }, say);
}
