import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';

/**
 * A throwaway three-master Redis Cluster on 127.0.0.1 for tests: three `redis-server
 * --cluster-enabled yes` processes on free ports (the cluster bus, port + 10000, free too),
 * joined with `redis-cli --cluster create`, resolved once every node reports
 * `cluster_state:ok`. Nothing persists (no RDB, no AOF; config files in a temp dir that
 * `stop()` removes). Every step is bounded in time.
 */
export interface RedisCluster {
  /** `127.0.0.1:<port>` of each master. */
  readonly nodes: string[];
  stop(): Promise<void>;
}

const HOST = '127.0.0.1';
const NODE_COUNT = 3;
const BUS_OFFSET = 10_000;
const START_TIMEOUT_MS = 20_000;
const STOP_TIMEOUT_MS = 5_000;

interface NodeProcess {
  readonly port: number;
  readonly child: ChildProcess;
  readonly exited: Promise<void>;
  output(): string;
}

export async function startRedisCluster(): Promise<RedisCluster> {
  const dir = await mkdtemp(join(tmpdir(), 'tollgate-redis-cluster-'));
  const deadline = Date.now() + START_TIMEOUT_MS;
  const nodes: NodeProcess[] = [];
  const admins: Redis[] = [];

  const stop = async () => {
    for (const a of admins) a.disconnect();
    await Promise.all(nodes.map((n) => stopNode(n)));
    await rm(dir, { recursive: true, force: true });
  };

  try {
    const taken = new Set<number>();
    for (let i = 0; i < NODE_COUNT; i++) nodes.push(await startNode(dir, taken, deadline));

    for (const n of nodes) {
      const admin = new Redis({ host: HOST, port: n.port, lazyConnect: true, retryStrategy: () => 50, maxRetriesPerRequest: null });
      admins.push(admin);
      await bounded(admin.connect().then(() => admin.ping()), deadline, `redis-server :${n.port} did not answer PING`, n);
    }

    const create = await run('redis-cli', ['--cluster', 'create', ...nodes.map((n) => `${HOST}:${n.port}`), '--cluster-replicas', '0', '--cluster-yes'], deadline);
    if (create.code !== 0) throw new Error(`redis-cli --cluster create exited with ${create.code}:\n${create.output}`);

    // Condition wait: every node must see every slot covered before clients use it.
    for (;;) {
      const infos = await Promise.all(admins.map((a) => a.cluster('INFO')));
      if (infos.every((info) => /^cluster_state:ok\r?$/m.test(info) && /^cluster_known_nodes:3\r?$/m.test(info))) break;
      if (Date.now() > deadline) throw new Error(`cluster not ok within ${START_TIMEOUT_MS} ms:\n${infos.join('\n---\n')}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    for (const a of admins) a.disconnect();
    admins.length = 0;
  } catch (e) {
    await stop();
    throw e;
  }

  return { nodes: nodes.map((n) => `${HOST}:${n.port}`), stop };
}

/** Starts one cluster node on a port whose bus port is free too; retries another port if the bind races. */
async function startNode(dir: string, taken: Set<number>, deadline: number): Promise<NodeProcess> {
  for (let attempt = 0; ; attempt++) {
    const port = await freePortWithBus(taken);
    taken.add(port);
    const child = spawn(
      'redis-server',
      [
        '--port', String(port),
        '--bind', HOST,
        '--cluster-enabled', 'yes',
        '--cluster-config-file', join(dir, `nodes-${port}.conf`),
        '--cluster-node-timeout', '2000',
        '--dir', dir,
        '--save', '',
        '--appendonly', 'no',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    const node: NodeProcess = { port, child, exited, output: () => out };
    // Ready (or dead, e.g. a port taken between the check and the bind).
    let timer: NodeJS.Timeout | undefined;
    const ready = await Promise.race([
      waitForOutput(child, () => out.includes('Ready to accept connections')).then(() => true),
      exited.then(() => false),
      new Promise<boolean>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`redis-server :${port} not ready in time:\n${out}`)), Math.max(0, deadline - Date.now()));
      }),
    ])
      .catch(async (e: unknown) => {
        await stopNode(node);
        throw e;
      })
      .finally(() => clearTimeout(timer));
    if (ready) return node;
    if (attempt >= 2 || Date.now() > deadline) throw new Error(`redis-server :${port} exited:\n${out}`);
  }
}

function waitForOutput(child: ChildProcess, done: () => boolean): Promise<void> {
  return new Promise((resolve) => {
    const check = () => {
      if (!done()) return;
      child.stdout!.off('data', check);
      child.stderr!.off('data', check);
      resolve();
    };
    child.stdout!.on('data', check);
    child.stderr!.on('data', check);
    check();
  });
}

async function stopNode(n: NodeProcess): Promise<void> {
  if (n.child.exitCode !== null || n.child.signalCode !== null) return;
  n.child.kill('SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  const killed = new Promise<void>((resolve) => {
    timer = setTimeout(() => {
      n.child.kill('SIGKILL');
      resolve();
    }, STOP_TIMEOUT_MS);
  });
  await Promise.race([n.exited, killed.then(() => n.exited)]);
  clearTimeout(timer);
}

/** A free 127.0.0.1 port `p` (≤ 55535) whose cluster bus port `p + 10000` is free as well. */
async function freePortWithBus(taken: Set<number>): Promise<number> {
  for (let i = 0; i < 200; i++) {
    const port = 20_000 + Math.floor(Math.random() * 35_000);
    if (taken.has(port) || taken.has(port + BUS_OFFSET) || taken.has(port - BUS_OFFSET)) continue;
    if ((await canBind(port)) && (await canBind(port + BUS_OFFSET))) return port;
  }
  throw new Error('no free port pair (port, port + 10000) on 127.0.0.1');
}

function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, HOST, () => s.close(() => resolve(true)));
  });
}

function run(cmd: string, args: string[], deadline: number): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${cmd} ${args.join(' ')} did not finish in time:\n${output}`));
    }, Math.max(0, deadline - Date.now()));
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

async function bounded<T>(p: Promise<T>, deadline: number, message: string, node: NodeProcess): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${message}:\n${node.output()}`)), Math.max(0, deadline - Date.now()));
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
