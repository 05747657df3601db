import { execFile } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { beforeAll, describe, expect, it } from 'vitest';
import { TOOL_CATALOG } from '../../core/tools/catalog.js';
import { createMetrics } from '../../gateway/src/observability/metrics.js';
import { ROOT } from '../../scripts/lib/paths.js';
import { ensurePromtool } from '../../scripts/lib/promtool.js';

/**
 * The observability config in infra/ (Prometheus rules and config, Grafana dashboards) is
 * code: promtool checks and unit-tests the rules, a JSON Schema checks the dashboards, and
 * every metric name they use must exist in the gateway's registry (or be a Temporal SDK
 * metric, or a recording rule of alerts.yml). No services needed.
 */
const ALERTS = 'infra/prometheus/alerts.yml';
const ALERT_TESTS = 'infra/prometheus/alerts.test.yml';
const PROM_CONFIG = 'infra/prometheus/prometheus.yml';
const DASHBOARDS = join(ROOT, 'infra/grafana/dashboards');
const SCHEMA = join(ROOT, 'infra/grafana/dashboard.schema.json');
const OPERATIONS = join(ROOT, 'docs/operations.md');

/**
 * Temporal SDK metrics the rules and dashboards may use, as the TypeScript SDK (Core)
 * exports them with the Prometheus exporter's defaults: `temporal_` prefix, counters
 * without `_total`, histograms in milliseconds without a unit suffix. Names from the SDK
 * metrics reference (docs.temporal.io/references/sdk-metrics; temporalio/documentation
 * docs/references/sdk-metrics.mdx) and checked against a scrape of a @temporalio/worker
 * 1.24.0 worker's /metrics.
 */
const TEMPORAL_METRICS = new Set([
  'temporal_workflow_task_execution_failed',
  'temporal_workflow_failed',
  'temporal_workflow_completed',
  'temporal_activity_execution_failed',
  'temporal_worker_task_slots_available',
  'temporal_worker_task_slots_used',
  'temporal_num_pollers',
  ...['temporal_workflow_task_schedule_to_start_latency', 'temporal_activity_schedule_to_start_latency', 'temporal_activity_execution_latency', 'temporal_workflow_task_execution_latency'].flatMap(
    (h) => [`${h}_bucket`, `${h}_sum`, `${h}_count`],
  ),
]);

let promtool: string;
beforeAll(async () => {
  promtool = await ensurePromtool((line) => console.log(`[promtool] ${line}`));
}, 300_000);

describe('Prometheus rules and config', () => {
  it('promtool check rules accepts alerts.yml', async () => {
    const r = await runPromtool(['check', 'rules', ALERTS]);
    expect(r.code, r.output).toBe(0);
  });

  it('promtool test rules: every alert fires and stays quiet as alerts.test.yml expects', async () => {
    const r = await runPromtool(['test', 'rules', ALERT_TESTS]);
    expect(r.code, r.output).toBe(0);
  });

  it('promtool check config accepts prometheus.yml and the rule file it loads', async () => {
    const r = await runPromtool(['check', 'config', PROM_CONFIG]);
    expect(r.code, r.output).toBe(0);
    expect(r.output).toMatch(/1 rule files found/);
  });

  it('every alert has for:, a page/ticket severity, summary, description and a runbook in docs/operations.md', async () => {
    const [alerts, tests, anchors] = await Promise.all([read(ALERTS), read(ALERT_TESTS), docAnchors()]);
    const rules = ruleBlocks(alerts).filter((b) => b.kind === 'alert');
    expect(rules.length).toBeGreaterThan(15);
    for (const { name, body } of rules) {
      expect(body, name).toMatch(/^\s*for: \d+[smh]\s*$/m);
      expect(body, name).toMatch(/^\s*severity: (page|ticket)\s*$/m);
      expect(body, name).toMatch(/^\s*summary: \S/m);
      expect(body, name).toMatch(/^\s*description: \S/m);
      const runbook = /^\s*runbook_url: docs\/operations\.md#([a-z0-9-]+)\s*$/m.exec(body)?.[1];
      expect(runbook, `${name}: runbook_url`).toBe(name.toLowerCase());
      expect(anchors, `docs/operations.md has no heading for ${name}`).toContain(runbook);
      expect(tests, `${name} is never shown firing`).toMatch(new RegExp(`alertname: ${name}\\s*\\n\\s*exp_alerts:\\s*\\n`));
      expect(tests, `${name} is never shown quiet`).toMatch(new RegExp(`alertname: ${name}\\s*\\n\\s*exp_alerts: \\[\\]`));
    }
  });

  it('the latency SLI leaves out exactly the tools that are long by design', async () => {
    // The expensive group (count_primes runs for minutes) and the diagnostic noop tools
    // (they hold calls open on purpose): see the SLO comment in alerts.yml.
    const expected = TOOL_CATALOG.filter((t) => t.group === 'expensive' || t.name.startsWith('noop'))
      .map((t) => t.name)
      .sort();
    const exclusions = [...(await read(ALERTS)).matchAll(/tool!~"([^"]+)"/g)].map((m) => m[1]!.split('|').sort());
    expect(exclusions.length).toBeGreaterThan(0);
    for (const e of exclusions) expect(e).toEqual(expected);
  });
});

describe('Grafana dashboards', () => {
  it('has the three dashboards, each valid against dashboard.schema.json', async () => {
    const validate = await dashboardValidator();
    const dashboards = await loadDashboards();
    expect(dashboards.map((d) => d.file).sort()).toEqual(['mcp-connections.json', 'system-health.json', 'usage-by-tier.json']);
    for (const { file, json } of dashboards) {
      expect(validate(json), `${file}: ${JSON.stringify(validate.errors, null, 2)}`).toBe(true);
    }
  });

  it('the schema rejects a broken panel', async () => {
    const validate = await dashboardValidator();
    const { json } = (await loadDashboards())[0]!;
    const breakages: ((panel: Panel) => void)[] = [
      (p) => delete p.targets![0]!.expr,
      (p) => (p.targets![0]!.expr = '  '),
      (p) => (p.targets = []),
      (p) => delete p.gridPos,
      (p) => (p.gridPos = { x: 0, y: 0, w: 30, h: 8 }),
      (p) => (p.datasource = { type: 'prometheus', uid: 'P1809F7CD0C75ACF3' }),
      (p) => delete p.targets![0]!.refId,
      (p) => (p.type = 'graph'),
    ];
    for (const breakPanel of breakages) {
      const copy = structuredClone(json);
      breakPanel(copy.panels.find((p) => p.type !== 'row')!);
      expect(validate(copy), breakPanel.toString()).toBe(false);
    }
  });

  it('lays panels out on the 24-column grid with unique ids, and templates datasource and tier', async () => {
    const uids = new Set<string>();
    for (const { file, json } of await loadDashboards()) {
      expect(uids.has(json.uid), file).toBe(false);
      uids.add(json.uid);
      const panels = allPanels(json);
      expect(new Set(panels.map((p) => p.id)).size, `${file}: panel ids`).toBe(panels.length);
      for (const p of panels) {
        expect(p.gridPos!.x + p.gridPos!.w, `${file}: ${p.title}`).toBeLessThanOrEqual(24);
        const refIds = (p.targets ?? []).map((t) => t.refId);
        expect(new Set(refIds).size, `${file}: ${p.title} refIds`).toBe(refIds.length);
      }
      const vars = json.templating.list.map((v) => `${v.name}:${v.type}`);
      expect(vars, file).toEqual(expect.arrayContaining(['datasource:datasource', 'tier:query']));
    }
  });

  it('every dashboard query is valid PromQL (promtool, with Grafana variables filled in)', async () => {
    const exprs = (await loadDashboards()).flatMap(({ json }) => allPanels(json).flatMap((p) => (p.targets ?? []).map((t) => t.expr!)));
    const rules = exprs.map((expr, i) => ({
      record: `dashboard_query_${i}`,
      expr: expr.replace(/\$\{?(__rate_interval|__interval|__range)\}?/g, '5m').replace(/\$\{?[a-zA-Z_]\w*\}?/g, '.*'),
    }));
    const dir = await mkdtemp(join(tmpdir(), 'tollgate-dashboards-'));
    try {
      const file = join(dir, 'dashboard-queries.yml'); // JSON is YAML
      await writeFile(file, JSON.stringify({ groups: [{ name: 'dashboard-queries', rules }] }, null, 1));
      const r = await runPromtool(['check', 'rules', file]);
      expect(r.code, r.output).toBe(0);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('metric names', () => {
  it('every tollgate_* metric, recording rule and temporal_* metric used by rules and dashboards exists', async () => {
    const registered = await registryNames();
    const alerts = await read(ALERTS);
    const recorded = new Set(ruleBlocks(alerts).filter((b) => b.kind === 'record').map((b) => b.name));
    expect([...recorded].every((n) => /^tollgate:[a-z0-9_]+:[a-z0-9_]+$/.test(n)), [...recorded].join(', ')).toBe(true);

    const sources: [string, string][] = [[ALERTS, withoutComments(alerts)]];
    for (const { file, json } of await loadDashboards()) {
      const texts = [...allPanels(json).flatMap((p) => (p.targets ?? []).map((t) => t.expr!)), ...json.templating.list.map((v) => JSON.stringify(v.query ?? ''))];
      sources.push([file, texts.join('\n')]);
    }
    const unknown: string[] = [];
    for (const [source, text] of sources) {
      for (const [name] of text.matchAll(/\b(?:tollgate_[a-z0-9_]+|tollgate:[a-z0-9_:]+|temporal_[a-z0-9_]+)/g)) {
        const known = name.startsWith('temporal_') ? TEMPORAL_METRICS.has(name) : name.includes(':') ? recorded.has(name) : registered.has(name);
        if (!known) unknown.push(`${source}: ${name}`);
      }
    }
    expect(unknown, 'metric names that nothing exports').toEqual([]);
    // The check has teeth: the rules really use the registry's and Temporal's names.
    expect(registered.has('tollgate_mcp_call_duration_seconds_bucket')).toBe(true);
    expect(alerts).toMatch(/temporal_worker_task_slots_available/);
  });
});

interface Target {
  refId?: string;
  expr?: string;
}
interface Panel {
  id: number;
  type: string;
  title: string;
  gridPos?: { x: number; y: number; w: number; h: number };
  datasource?: { type: string; uid: string };
  targets?: Target[];
  panels?: Panel[];
}
interface Dashboard {
  uid: string;
  panels: Panel[];
  templating: { list: { name: string; type: string; query?: unknown }[] };
}

function allPanels(d: Dashboard): Panel[] {
  return d.panels.flatMap((p) => [p, ...(p.panels ?? [])]);
}

async function loadDashboards(): Promise<{ file: string; json: Dashboard }[]> {
  const files = (await readdir(DASHBOARDS)).filter((f) => f.endsWith('.json')).sort();
  return Promise.all(files.map(async (file) => ({ file, json: JSON.parse(await readFile(join(DASHBOARDS, file), 'utf8')) as Dashboard })));
}

async function dashboardValidator() {
  const ajv = new Ajv2020({ allErrors: true });
  return ajv.compile(JSON.parse(await readFile(SCHEMA, 'utf8')) as object);
}

/** Metric names the gateway exports, with histograms' and summaries' series suffixes. */
async function registryNames(): Promise<Set<string>> {
  const names = new Set<string>();
  for (const m of await createMetrics().registry.getMetricsAsJSON()) {
    names.add(m.name);
    if (['histogram', 'summary'].includes(String(m.type))) for (const s of ['_bucket', '_sum', '_count']) names.add(`${m.name}${s}`);
  }
  return names;
}

/** `- alert: X` / `- record: X` entries of a rule file with the text up to the next one. */
function ruleBlocks(yaml: string): { kind: 'alert' | 'record'; name: string; body: string }[] {
  const starts = [...yaml.matchAll(/^\s*- (alert|record): (\S+)\s*$/gm)];
  return starts.map((m, i) => ({
    kind: m[1] as 'alert' | 'record',
    name: m[2]!,
    body: yaml.slice(m.index, starts[i + 1]?.index ?? yaml.length).split(/^\s*- name: /m)[0]!,
  }));
}

/** GitHub-style anchors of the headings in docs/operations.md. */
async function docAnchors(): Promise<string[]> {
  const md = await readFile(OPERATIONS, 'utf8');
  return [...md.matchAll(/^#{1,6} (.+)$/gm)].map((m) =>
    m[1]!
      .trim()
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, '')
      .replace(/\s/g, '-'),
  );
}

function withoutComments(yaml: string): string {
  return yaml
    .split('\n')
    .filter((l) => !/^\s*#/.test(l))
    .join('\n');
}

function read(relative: string): Promise<string> {
  return readFile(join(ROOT, relative), 'utf8');
}

function runPromtool(args: string[]): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    execFile(promtool, args, { cwd: ROOT }, (err, stdout, stderr) => {
      const output = `$ promtool ${args.join(' ')}\n${stdout}${stderr}`;
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, output });
    });
  });
}
