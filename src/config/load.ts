import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parse as parseYaml } from "yaml";
import { knownKeysAt } from "./known-keys.ts";
import { configSchema, type Config, type Secrets } from "./schema.ts";

export const DEFAULT_CONFIG_FILE = resolve(
  dirname(fileURLToPath(import.meta.url)),
  "../../config/default.yaml",
);

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}

export interface LoadedConfig {
  readonly config: Config;
  readonly secrets: Secrets;
  /**
   * Which URLs the operator chose: set in the environment, or different from the built-in
   * default (in a config file or overrides). buildcast never starts a local server for those.
   */
  readonly explicit: { readonly natsUrl: boolean; readonly redisUrl: boolean };
  readonly production: boolean;
  readonly files: readonly string[];
}

type Env = Readonly<Record<string, string | undefined>>;
type Tree = Record<string, unknown>;

const isTree = (value: unknown): value is Tree =>
  typeof value === "object" && value !== null && !Array.isArray(value);

/** Objects merge key by key; arrays and scalars from `override` replace. */
export function deepMerge(base: Tree, override: Tree): Tree {
  const out: Tree = { ...base };
  for (const [key, value] of Object.entries(override)) {
    const current = out[key];
    out[key] = isTree(current) && isTree(value) ? deepMerge(current, value) : value;
  }
  return out;
}

function readYaml(file: string): Tree {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (error) {
    throw new ConfigError(
      `cannot read config file ${file}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`,
    );
  }
  let parsed: unknown;
  try {
    parsed = parseYaml(text);
  } catch (error) {
    throw new ConfigError(`config file ${file} is not valid YAML: ${(error as Error).message}`);
  }
  if (parsed === null || parsed === undefined) return {};
  if (!isTree(parsed)) throw new ConfigError(`config file ${file} must hold a mapping at the top level`);
  return parsed;
}

function setPath(tree: Tree, path: readonly string[], value: unknown): void {
  let node = tree;
  for (const key of path.slice(0, -1)) {
    const next = node[key];
    node[key] = isTree(next) ? { ...next } : {};
    node = node[key] as Tree;
  }
  node[path[path.length - 1] ?? ""] = value;
}

function hasPath(tree: Tree, path: readonly string[]): boolean {
  const [key, ...rest] = path;
  if (key === undefined || !(key in tree)) return false;
  const next = tree[key];
  return rest.length === 0 || (isTree(next) && hasPath(next, rest));
}

/** Non-secret environment overrides: variable → config path (and how to read it). */
const ENV_OVERRIDES: ReadonlyArray<readonly [string, readonly string[], (raw: string) => unknown]> = [
  ["PORT", ["server", "port"], (raw) => (/^\d+$/.test(raw) ? Number(raw) : raw)],
  ["BUILDCAST_ROLE", ["role"], String],
  ["HOST", ["server", "host"], String],
  ["NATS_URL", ["nats", "url"], String],
  ["REDIS_URL", ["redis", "url"], String],
  ["LOG_LEVEL", ["log", "level"], String],
  ["SLACK_API_URL", ["notify", "slack", "apiUrl"], String],
  ["BUILDCAST_DATA_DIR", ["dev", "dataDir"], String],
  ["BUILDCAST_SPOOL_DIR", ["spool", "dir"], String],
];

const splitList = (raw: string | undefined): string[] =>
  (raw ?? "")
    .split(",")
    .map((part) => part.trim())
    .filter((part) => part.length > 0);

const nonEmpty = (raw: string | undefined): string | null => (raw && raw.trim() !== "" ? raw.trim() : null);

export function readSecrets(env: Env): Secrets {
  return {
    githubWebhookSecrets: splitList(env.GITHUB_WEBHOOK_SECRET),
    gitlabWebhookTokens: splitList(env.GITLAB_WEBHOOK_TOKEN),
    slackBotToken: nonEmpty(env.SLACK_BOT_TOKEN),
    smtpUrl: nonEmpty(env.SMTP_URL),
    apiToken: nonEmpty(env.BUILDCAST_API_TOKEN),
  };
}

/**
 * Secrets whose form is wrong, named by their variable, never shown: a malformed SMTP_URL would
 * otherwise only fail inside nodemailer at start, with a stack trace that prints it whole.
 */
function secretIssues(secrets: Secrets): string[] {
  const issues: string[] = [];
  if (secrets.smtpUrl !== null) {
    let protocol = "";
    let host = "";
    try {
      ({ protocol, host } = new URL(secrets.smtpUrl));
    } catch {
      // not a URL at all: reported below like a wrong scheme
    }
    // no host (`smtp:/user:pw@host`, a slash short) is no server: nodemailer would try localhost
    if ((protocol !== "smtp:" && protocol !== "smtps:") || host === "") {
      issues.push(
        "SMTP_URL: expected smtp://user:password@host:587 or smtps://user:password@host:465 " +
          "(a password with @ : / or # written URL-encoded); its value is not shown",
      );
    }
  }
  return issues;
}

/**
 * config/default.yaml, then the file named by BUILDCAST_CONFIG (or `file`), then the
 * environment; validated as a whole. An invalid setting throws ConfigError naming its path.
 */
export function loadConfig(options: { env?: Env; file?: string; overrides?: Tree } = {}): LoadedConfig {
  const env = options.env ?? process.env;
  const files = [DEFAULT_CONFIG_FILE];
  const extra = options.file ?? nonEmpty(env.BUILDCAST_CONFIG);
  if (extra) files.push(resolve(extra));

  const defaults = readYaml(DEFAULT_CONFIG_FILE);
  let tree: Tree = { ...defaults }; // setPath copies what it changes below the top level
  for (const file of files.slice(1)) tree = deepMerge(tree, readYaml(file));
  // which variable set which path, so an error can name what the operator actually wrote
  const fromEnv = new Map<string, string>();
  for (const [name, path, read] of ENV_OVERRIDES) {
    const raw = nonEmpty(env[name]);
    if (raw === null) continue;
    setPath(tree, path, read(raw));
    fromEnv.set(path.join("."), name);
  }
  if (options.overrides) {
    tree = deepMerge(tree, options.overrides);
    for (const path of fromEnv.keys()) if (hasPath(options.overrides, path.split("."))) fromEnv.delete(path);
  }

  const result = configSchema.safeParse(tree);
  const secrets = readSecrets(env);
  const secretProblems = secretIssues(secrets);
  if (!result.success || secretProblems.length > 0) {
    const lines = (result.error?.issues ?? []).map((issue) => {
      const path = issue.path.map(String).join(".") || "(top level)";
      const variable = fromEnv.get(path);
      // the value is not repeated: NATS_URL and REDIS_URL may carry passwords
      const known = issue.code === "unrecognized_keys" ? knownKeysAt(configSchema, issue.path) : null;
      const takes = known ? ` (it takes ${known.join(", ")})` : "";
      return `  - ${path}: ${issue.message}${takes}${variable ? ` (set by the environment variable ${variable})` : ""}`;
    });
    lines.push(...secretProblems.map((problem) => `  - ${problem}`));
    throw new ConfigError(`invalid configuration (${files.join(", ")} + environment):\n${lines.join("\n")}`);
  }
  const config = result.data;
  // the URLs of config/default.yaml alone; should it ever be invalid, every URL counts as chosen
  const builtIn = configSchema.safeParse(defaults).data;
  const chosen = (variable: string, value: string, builtInValue: string | undefined): boolean =>
    nonEmpty(env[variable]) !== null || value.trim() !== builtInValue?.trim();
  return {
    config,
    secrets,
    explicit: {
      natsUrl: chosen("NATS_URL", config.nats.url, builtIn?.nats.url),
      redisUrl: chosen("REDIS_URL", config.redis.url, builtIn?.redis.url),
    },
    production: env.NODE_ENV === "production",
    files,
  };
}
