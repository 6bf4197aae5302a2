import { parseServiceConfig } from '@app/config';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Deployment } from 'kubernetes-models/apps/v1';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { ConfigMap, Namespace, Secret, Service } from 'kubernetes-models/v1';
import { parseAllDocuments } from 'yaml';
import { startService } from '../support/service-app';
import { createTestDatabase } from '../support/test-database';

const ROOT = join(__dirname, '../..');
const BASE = join(ROOT, 'deploy/base');

interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string };
  [field: string]: unknown;
}

const MODELS: Record<string, new (data: never) => { validate(): void }> = {
  'apps/v1/Deployment': Deployment,
  'autoscaling/v2/HorizontalPodAutoscaler': HorizontalPodAutoscaler,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  'v1/ConfigMap': ConfigMap,
  'v1/Namespace': Namespace,
  'v1/Secret': Secret,
  'v1/Service': Service,
};

function loadManifests(): Manifest[] {
  return readdirSync(BASE)
    .filter((file) => file.endsWith('.yaml') && file !== 'kustomization.yaml')
    .flatMap((file) => parseAllDocuments(readFileSync(join(BASE, file), 'utf8')).map((doc) => doc.toJS() as Manifest));
}

function validate(manifest: Manifest): void {
  const Model = MODELS[`${manifest.apiVersion}/${manifest.kind}`];
  if (!Model) {
    throw new Error(`no schema for ${manifest.apiVersion} ${manifest.kind}`);
  }
  new Model(manifest as never).validate();
}

const manifests = loadManifests();
const byKind = (kind: string): Manifest => {
  const found = manifests.find((manifest) => manifest.kind === kind);
  if (!found) {
    throw new Error(`no ${kind} in deploy/base`);
  }

  return found;
};

interface Probe {
  httpGet: { path: string; port: string | number };
}
interface Container {
  name: string;
  command?: string[];
  ports?: { name: string; containerPort: number }[];
  startupProbe?: Probe;
  livenessProbe?: Probe;
  readinessProbe?: Probe;
  lifecycle?: { preStop?: { exec?: { command: string[] } } };
  resources?: { requests?: object; limits?: object };
}
const podSpec = (
  byKind('Deployment') as unknown as {
    spec: {
      template: {
        spec: { containers: Container[]; initContainers: Container[]; terminationGracePeriodSeconds: number };
      };
    };
  }
).spec.template.spec;
const service = podSpec.containers[0];
const configData = (byKind('ConfigMap') as unknown as { data: Record<string, string> }).data;
const secretData = (byKind('Secret') as unknown as { stringData: Record<string, string> }).stringData;

describe('Kubernetes manifests (deploy/base)', () => {
  it('should list every manifest in the kustomization', () => {
    const kustomization = readFileSync(join(BASE, 'kustomization.yaml'), 'utf8');
    const files = readdirSync(BASE).filter((file) => file.endsWith('.yaml') && file !== 'kustomization.yaml');

    for (const file of files) {
      expect(kustomization).toContain(`- ${file}`);
    }
  });

  it.each(manifests.map((manifest) => [`${manifest.kind} ${manifest.metadata.name}`, manifest]))(
    'should validate %s against the Kubernetes schema',
    (_name, manifest) => {
      expect(() => validate(manifest)).not.toThrow();
    },
  );

  it('should have a validation that rejects a broken manifest', () => {
    const broken = structuredClone(byKind('Deployment')) as Manifest & { spec: { replicas: unknown } };
    broken.spec.replicas = 'three';

    expect(() => validate(broken)).toThrow(/replicas/);
  });

  it('should include the pieces a safe rollout needs', () => {
    expect(manifests.map((manifest) => manifest.kind).sort()).toEqual(
      [
        'ConfigMap',
        'Deployment',
        'HorizontalPodAutoscaler',
        'Namespace',
        'PodDisruptionBudget',
        'Secret',
        'Service',
      ].sort(),
    );
    expect(service.resources?.requests).toBeDefined();
    expect(service.resources?.limits).toBeDefined();
    expect(podSpec.initContainers.map((container) => container.name)).toEqual(['migrate']);
  });

  it('should point the probes at the contract endpoints on the container port the service listens on', () => {
    const port = Number(configData.PORT);
    const http = service.ports?.find((candidate) => candidate.name === 'http');

    expect(http?.containerPort).toBe(port);
    expect(service.startupProbe?.httpGet).toEqual({ path: '/health/live', port: 'http' });
    expect(service.livenessProbe?.httpGet).toEqual({ path: '/health/live', port: 'http' });
    expect(service.readinessProbe?.httpGet).toEqual({ path: '/health/ready', port: 'http' });
    expect(
      (byKind('Service') as unknown as { spec: { ports: { targetPort: string }[] } }).spec.ports[0]?.targetPort,
    ).toBe('http');
  });

  it('should give the pod a grace period longer than the preStop pause plus the service drain limit', () => {
    const preStopSeconds = Number(service.lifecycle?.preStop?.exec?.command[1]);
    const shutdownSeconds = Number(configData.SHUTDOWN_TIMEOUT_MS) / 1000;

    expect(preStopSeconds).toBeGreaterThan(0);
    expect(podSpec.terminationGracePeriodSeconds).toBeGreaterThan(preStopSeconds + shutdownSeconds);
  });

  it('should configure the service with values it accepts', () => {
    const config = parseServiceConfig({ ...configData, ...secretData });

    expect(config.nodeEnv).toBe('production');
    expect(config.database.migrateOnStart).toBe(false);
    expect(config.http.port).toBe(Number(configData.PORT));
  });

  it('should run entry points that the build produces', () => {
    const migrate = podSpec.initContainers[0].command!;

    expect(existsSync(join(ROOT, migrate[1]))).toBe(true);
  });

  it('should serve the probe paths on the real service', async () => {
    const database = await createTestDatabase('manifests');
    const running = await startService(database.url);
    try {
      for (const probe of [service.startupProbe, service.livenessProbe, service.readinessProbe]) {
        const response = await fetch(`${running.url}${probe!.httpGet.path}`);
        expect(response.status).toBe(200);
      }
    } finally {
      await running.close();
      await database.drop();
    }
  });
});

describe('Dockerfile and docker-compose.yml', () => {
  const bin = (name: string): string => join(ROOT, 'node_modules/.bin', name);
  const lint = (command: string, args: string[]): { code: number; output: string } => {
    try {
      return { code: 0, output: execFileSync(bin(command), args, { cwd: ROOT, encoding: 'utf8' }) };
    } catch (error) {
      const failed = error as { status: number; stdout: string; stderr: string };

      return { code: failed.status, output: `${failed.stdout}${failed.stderr}` };
    }
  };

  it('should pass the Dockerfile linter, which does fail a broken Dockerfile', () => {
    expect(lint('dockerfile-utils', ['lint', 'Dockerfile'])).toEqual({ code: 0, output: '' });
    expect(lint('dockerfile-utils', ['lint', 'test/deploy/fixtures/Dockerfile.broken']).code).not.toBe(0);
  });

  it('should build a slim Node 22 image that runs as a non-root user with a health check and the built entry point', () => {
    const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
    const runtime = dockerfile.slice(dockerfile.lastIndexOf('FROM '));
    const cmd = /^CMD \["node", "([^"]+)"\]/m.exec(runtime)?.[1];

    expect(runtime).toMatch(/^FROM node:22-[a-z]+-slim AS runtime/);
    expect(runtime).toMatch(/^USER node$/m);
    expect(runtime).toMatch(/^HEALTHCHECK /m);
    expect(dockerfile).toContain('npm ci --omit=dev');
    expect(cmd && existsSync(join(ROOT, cmd))).toBe(true);
  });

  it('should pass the compose linter', () => {
    const result = lint('dclint', ['docker-compose.yml']);

    expect(result.code).toBe(0);
  });
});
