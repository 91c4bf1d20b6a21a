import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, posix } from "node:path";
import { describe, it } from "node:test";
import { parse } from "yaml";
import { productionNodeFlags } from "../../bench/processes.ts";
import { configReport } from "../../src/cli/config-report.ts";
import { loadConfig, type LoadedConfig } from "../../src/config/load.ts";

const ROOT = join(import.meta.dirname, "../..");

describe("deployment files", () => {
  it("the Docker image runs the gateway as npm run start:prod does (and the benchmark measures it)", () => {
    const dockerfile = readFileSync(join(ROOT, "Dockerfile"), "utf8");
    const cmd = /^CMD (\[.*\])$/m.exec(dockerfile)?.[1];
    assert.ok(cmd, "the Dockerfile has an exec-form CMD");
    const argv = JSON.parse(cmd) as string[];
    assert.equal(argv[0], "node");
    assert.equal(argv.at(-1), "dist/main.js");
    const flags = productionNodeFlags();
    assert.ok(flags.includes("--max-semi-space-size=4"), JSON.stringify(flags));
    assert.ok(flags.includes("--single-threaded-gc"), JSON.stringify(flags));
    assert.deepEqual(argv.slice(1, -1), flags);
  });

  it("compose pins every image it pulls, so `docker compose up` starts the same stack each time", () => {
    const compose = parse(readFileSync(join(ROOT, "deploy/docker-compose.yml"), "utf8")) as {
      services: Record<string, { image?: string; build?: unknown }>;
    };
    const pulled = Object.entries(compose.services).filter(([, s]) => s.build === undefined);
    assert.ok(pulled.length >= 3, "NATS, Redis and the SMTP sink are pulled");
    for (const [name, service] of pulled) {
      const tag = /:([^:/@]+)$/.exec(service.image ?? "")?.[1];
      assert.ok(tag && tag !== "latest", `${name}: image ${service.image ?? "(none)"} has no version tag`);
    }
  });

  /** What a container sees: the mounted config file and its environment, through the real loader. */
  function loadAsDeployed(config: string, env: Record<string, string>): LoadedConfig {
    const dir = mkdtempSync(join(tmpdir(), "buildcast-deploy-"));
    try {
      const file = join(dir, "config.yaml");
      writeFileSync(file, config);
      return loadConfig({ env: { ...env, NODE_ENV: "production", BUILDCAST_CONFIG: file } });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  const dockerfile = readFileSync(join(ROOT, "Dockerfile"), "utf8");
  const workdir = [...dockerfile.matchAll(/^WORKDIR (\S+)$/gm)].at(-1)?.[1] ?? "/";
  const user = /^USER (\d+):(\d+)$/m.exec(dockerfile);

  it("Kubernetes: the ConfigMap, the Deployment's env and the example Secret start the gateway", () => {
    const read = (name: string): unknown =>
      parse(readFileSync(join(ROOT, "deploy/kubernetes", name), "utf8"));
    type Container = {
      env: Array<{ name: string; value: string }>;
      ports: Array<{ name: string; containerPort: number }>;
      volumeMounts: Array<{ name: string; mountPath: string }>;
      securityContext: { readOnlyRootFilesystem?: boolean };
      [probe: string]: unknown;
    };
    const deployment = read("deployment.yaml") as {
      spec: {
        template: {
          metadata: { annotations: Record<string, string> };
          spec: {
            securityContext: { runAsUser: number; runAsGroup: number };
            containers: Container[];
            volumes: Array<{ name: string; configMap?: { name: string } }>;
          };
        };
      };
    };
    const configMap = read("configmap.yaml") as { metadata: { name: string }; data: Record<string, string> };
    const secret = read("secret.example.yaml") as { stringData: Record<string, string> };
    const pod = deployment.spec.template.spec;
    const [container] = pod.containers;
    assert.ok(container);
    const env = Object.fromEntries(container.env.map(({ name, value }) => [name, value]));

    // BUILDCAST_CONFIG names the ConfigMap's key where its volume is mounted
    const configVolume = pod.volumes.find((volume) => volume.configMap?.name === configMap.metadata.name);
    const configMount = container.volumeMounts.find((mount) => mount.name === configVolume?.name);
    const [key] = Object.keys(configMap.data);
    assert.equal(env.BUILDCAST_CONFIG, `${configMount?.mountPath ?? "?"}/${key ?? "?"}`);

    const loaded = loadAsDeployed(configMap.data[key ?? ""] ?? "", { ...secret.stringData, ...env });
    assert.deepEqual(configReport(loaded).warnings, []);
    // every key of the Secret is a variable buildcast reads
    const secrets = loaded.secrets;
    assert.deepEqual(Object.keys(secret.stringData).sort(), [
      "BUILDCAST_API_TOKEN",
      "GITHUB_WEBHOOK_SECRET",
      "GITLAB_WEBHOOK_TOKEN",
      "REDIS_URL",
      "SLACK_BOT_TOKEN",
      "SMTP_URL",
    ]);
    assert.ok(secrets.apiToken && secrets.slackBotToken && secrets.smtpUrl);
    assert.equal(loaded.config.redis.url, secret.stringData.REDIS_URL);

    // probes, the scrape annotations and the port the gateway listens on
    const http = container.ports.find((port) => port.name === "http");
    assert.equal(http?.containerPort, loaded.config.server.port);
    for (const [probe, path] of [
      ["livenessProbe", "/healthz"],
      ["readinessProbe", "/readyz"],
      ["startupProbe", "/healthz"],
    ] as const) {
      assert.deepEqual((container[probe] as { httpGet: unknown }).httpGet, { path, port: "http" }, probe);
    }
    const annotations = deployment.spec.template.metadata.annotations;
    assert.equal(annotations["prometheus.io/port"], String(loaded.config.server.port));
    assert.equal(annotations["prometheus.io/path"], "/metrics");

    // the image's user, and a read-only root with the spool on a volume
    assert.equal(pod.securityContext.runAsUser, Number(user?.[1]));
    assert.equal(pod.securityContext.runAsGroup, Number(user?.[2]));
    assert.equal(container.securityContext.readOnlyRootFilesystem, true);
    const spool = posix.resolve(workdir, loaded.config.spool.dir);
    assert.ok(
      container.volumeMounts.some((mount) => spool.startsWith(`${mount.mountPath}/`)),
      `the spool ${spool} is on a volume, not the read-only root`,
    );
  });

  it("Compose: the gateway's config and environment start it, the spool on its volume", () => {
    const compose = parse(readFileSync(join(ROOT, "deploy/docker-compose.yml"), "utf8")) as {
      services: {
        buildcast: {
          environment: Record<string, string>;
          configs: Array<{ source: string; target: string }>;
          volumes: string[];
          ports: string[];
        };
      };
      configs: Record<string, { content: string }>;
    };
    const service = compose.services.buildcast;
    // ${VAR:-fallback} as Compose expands it with nothing set in the shell
    const env = Object.fromEntries(
      Object.entries(service.environment).map(([name, value]) => [
        name,
        String(value).replace(/\$\{\w+:-([^}]*)\}/g, "$1"),
      ]),
    );
    const [mounted] = service.configs;
    assert.equal(env.BUILDCAST_CONFIG, mounted?.target);
    const loaded = loadAsDeployed(compose.configs[mounted?.source ?? ""]?.content ?? "", env);
    assert.deepEqual(configReport(loaded).warnings, []);
    assert.ok(service.ports.some((port) => port.endsWith(`:${loaded.config.server.port}`)));
    const spool = posix.resolve(workdir, loaded.config.spool.dir);
    assert.ok(
      service.volumes.some((volume) => spool.startsWith(`${volume.split(":")[1] ?? "?"}/`)),
      `the spool ${spool} is on a volume`,
    );
  });
});
