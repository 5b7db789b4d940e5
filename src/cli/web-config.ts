/**
 * `--web.config.file`: the Prometheus exporter-toolkit's web configuration, the slice cgstore
 * serves: `tls_server_config` (`cert_file`, `key_file`, relative to the file) and
 * `basic_auth_users` (user: bcrypt hash). Keys of the format cgstore does not implement are
 * refused by name rather than ignored: a config that asks for client certificates must not
 * silently serve without them.
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import bcrypt from "bcryptjs";
import { ConfigError, YamlFile, type YamlNode } from "./yaml-reader.ts";

const HELP = "See README (cgstore serve --web.config.file): the exporter-toolkit format, tls_server_config and basic_auth_users.";

export interface WebConfig {
  /** PEM text of the certificate chain and the key. */
  tls?: { cert: string; key: string };
  /** user → bcrypt hash; empty: no authentication. */
  users: Map<string, string>;
}

const UNSUPPORTED_TLS = ["client_auth_type", "client_ca_file", "client_allowed_sans", "cipher_suites",
  "curve_preferences", "min_version", "max_version", "prefer_server_cipher_suites", "cert", "key"];

/** Reads and checks a web config file; PEM files are read now, so a typo fails at start. */
export function loadWebConfig(file: string): WebConfig {
  const root = new YamlFile(file, HELP).root;
  const k = root.node === null ? new Map<string, YamlNode>() : root.keys(["tls_server_config", "basic_auth_users", "http_server_config"]);
  const out: WebConfig = { users: new Map() };
  const tlsNode = k.get("tls_server_config");
  if (tlsNode) {
    const t = tlsNode.keys(["cert_file", "key_file", ...UNSUPPORTED_TLS]);
    for (const name of UNSUPPORTED_TLS) if (t.has(name)) throw t.get(name)!.error(`"${name}" is not supported by cgstore serve`);
    const pem = (key: string): string => {
      const n = t.get(key);
      if (!n) throw tlsNode.error(`needs "${key}"`);
      const path = resolve(dirname(file), n.string());
      try {
        return readFileSync(path, "utf8");
      } catch (e) {
        throw n.error(`cannot read ${path}: ${(e as Error).message}`);
      }
    };
    out.tls = { cert: pem("cert_file"), key: pem("key_file") };
  }
  const http = k.get("http_server_config");
  if (http) {
    const h = http.keys(["http2", "headers"]);
    for (const [name, n] of h) throw n.error(`"${name}" is not supported by cgstore serve`);
  }
  const users = k.get("basic_auth_users");
  if (users) {
    for (const [user, hash] of Object.entries(users.stringMap())) {
      if (!/^\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}$/.test(hash)) {
        throw new ConfigError(`${users.at}: basic_auth_users.${user}: not a bcrypt hash (htpasswd -nBC 10 "" | tr -d ':\\n' makes one)`, HELP);
      }
      out.users.set(user, hash);
    }
  }
  return out;
}

/** A hash that no password matches, compared against for unknown users (same cost, same time). */
const NO_USER = "$2b$10$abcdefghijklmnopqrstuu0S9mYXt9n1uhDSW2pQmEO3LLQmHxcbC";

/**
 * Basic authentication against the users' bcrypt hashes. A bcrypt check costs tens of
 * milliseconds by design, and Prometheus sends the same credentials every scrape: verified
 * credentials are remembered (as a SHA-256 of user, password and hash, never in clear).
 */
export class BasicAuth {
  private readonly users: Map<string, string>;
  private readonly verified = new Set<string>();

  constructor(users: Map<string, string>) {
    this.users = users;
  }

  get enabled(): boolean {
    return this.users.size > 0;
  }

  /** Does the request's Authorization header name a user with the right password? */
  check(header: string | null): boolean {
    if (!this.enabled) return true;
    const m = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header ?? "");
    if (!m) return false;
    const decoded = Buffer.from(m[1]!, "base64").toString("utf8");
    const colon = decoded.indexOf(":");
    if (colon < 0) return false;
    const user = decoded.slice(0, colon), password = decoded.slice(colon + 1);
    const hash = this.users.get(user);
    const digest = createHash("sha256").update(`${user}\0${password}\0${hash ?? ""}`).digest("hex");
    if (hash !== undefined && this.verified.has(digest)) return true;
    const ok = bcrypt.compareSync(password, hash ?? NO_USER) && hash !== undefined;
    if (ok) {
      if (this.verified.size >= 1024) this.verified.clear(); // bounded: users × passwords seen
      this.verified.add(digest);
    }
    return ok;
  }
}
