import { Client, Connection } from '@temporalio/client';

export interface TemporalSettings {
  readonly address: string;
  readonly namespace: string;
}

/** A Temporal client. `connect` fails when the frontend is unreachable, with the address in the message. */
export async function createTemporalClient(settings: TemporalSettings): Promise<{ client: Client; connection: Connection }> {
  try {
    const connection = await Connection.connect({ address: settings.address, connectTimeout: 5_000 });
    return { client: new Client({ connection, namespace: settings.namespace }), connection };
  } catch (e) {
    throw new Error(`cannot reach Temporal at ${settings.address}: ${(e as Error).message}`, { cause: e });
  }
}
