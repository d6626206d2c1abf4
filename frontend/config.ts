// Frontend configuration from the environment (README "Configuration"). Cache settings are read by
// cache/, the HTTP limits by http/limits.ts; this file holds the rest.

import type { Env, HostPort, Replica } from "../lib/config.ts";
import { catalogAddrDefault, ConfigError, envHost, envHostPort, envInt, envPort, envReplicas } from "../lib/config.ts";
import { orderQuantityMax, stockNameBytesMax } from "../lib/protocol.ts";
import { defaultLimits, resolveLimits } from "./http/limits.ts";
import type { HttpLimits } from "./http/limits.ts";

export type FrontendConfig = {
  readonly host: string;
  readonly port: number;
  readonly catalogAddr: HostPort;
  readonly replicas: readonly Replica[];
  readonly httpLimits: HttpLimits;
};

export const frontendPortDefault = 8080;

export function loadFrontendConfig(env: Env): FrontendConfig {
  return {
    host: envHost(env),
    port: envPort(env, "PORT", frontendPortDefault),
    catalogAddr: envHostPort(env, "CATALOG_ADDR", catalogAddrDefault),
    replicas: envReplicas(env, "ORDER_REPLICAS"),
    httpLimits: loadHttpLimits(env),
  };
}

/** `headerBytesMax` is set by HTTP_HEADER_BYTES_MAX, and so on for every HTTP limit. */
export function httpLimitVariable(name: string): string {
  return `HTTP_${name.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}`;
}

/**
 * The smallest HTTP_BODY_BYTES_MAX the API works with: the longest order in compact JSON, a name
 * of stockNameBytesMax bytes each written as a six-byte `\u` escape, must fit. The HTTP server
 * alone allows 0 (no bodies); this frontend needs them for POST /orders.
 */
export const orderBodyBytesMin = 6 * stockNameBytesMax + `{"name":"","type":"sell","quantity":${orderQuantityMax}}`.length;

/** Every limit of the HTTP server can be overridden from the environment. */
export function loadHttpLimits(env: Env): HttpLimits {
  const overrides: Record<string, number> = {};
  for (const name of Object.keys(defaultLimits) as (keyof HttpLimits)[]) {
    const variable = httpLimitVariable(name);
    const min = name === "bodyBytesMax" ? orderBodyBytesMin : 0;
    overrides[name] = envInt(env, variable, defaultLimits[name], min, Number.MAX_SAFE_INTEGER);
  }
  try {
    return resolveLimits(overrides);
  } catch (err) {
    const name = /limits\.(\w+)/.exec(String(err))?.[1] ?? "headerBytesMax";
    throw new ConfigError(httpLimitVariable(name), String(err instanceof Error ? err.message : err).replace(/^.*?limits\.\w+ /, ""));
  }
}
