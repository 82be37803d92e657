// What the primary and its data-plane workers say to each other over cluster IPC (advanced
// serialization, so Maps travel as they are).
import type { AddressInfo } from 'node:net';
import type { EntrypointConfig, LbConfig, MiddlewareConfig, RouterConfig, ServiceConfig } from '../config/types.js';
import type { TrafficStats } from '../metrics/traffic.js';
import type { TlsState } from '../tls/state.js';
import type { ChallengeSet } from '../tls/acme/challenges.js';
import type { PoolShape } from '../middleware/limits.js';

/** Every pending ACME challenge (the whole set each time); the worker answers with the version it applied. */
export interface ChallengesMessage extends ChallengeSet {
  type: 'lb:acme-challenges';
  version: number;
}

/** A routing snapshot as its inputs: a worker rebuilds the same snapshot from them. */
export interface SnapshotMessage {
  type: 'lb:snapshot';
  entrypoints: ReadonlyMap<string, EntrypointConfig>;
  routers: ReadonlyMap<string, RouterConfig>;
  services: ReadonlyMap<string, ServiceConfig>;
  middlewares: ReadonlyMap<string, MiddlewareConfig>;
  /** [service, backend origin, usable, known] for every server, from the control loop's health state. */
  states: Array<[string, string, boolean, boolean]>;
}

/** A worker's lease is empty: `need` requests wait for tokens of `source` in pool `pool` (src/cluster/limits.ts). */
export interface LimitTake {
  type: 'lb:limit-take';
  id: number;
  pool: string;
  source: string;
  shape: PoolShape;
  need: number;
}

/** The primary's answer: `granted` tokens (maybe more than needed); `waitMs` until the next is due, -1 when only a release brings one. */
export interface LimitGrant {
  type: 'lb:limit-grant';
  id: number;
  granted: number;
  waitMs: number;
}

/** Another worker needs tokens the primary has leased to this one: give back those unused. */
export interface LimitRecall {
  type: 'lb:limit-recall';
  pool: string;
  source: string;
}

/** Tokens given back, and how many the worker still holds (its requests in flight, for inFlightReq). */
export interface LimitReturn {
  type: 'lb:limit-return';
  pool: string;
  source: string;
  count: number;
  kept: number;
  /** The answer to a recall. */
  recalled: boolean;
}

export type ToWorker =
  | { type: 'lb:start'; config: LbConfig }
  | { type: 'lb:reload'; config: LbConfig }
  | SnapshotMessage
  | ChallengesMessage
  /** Certificates and session ticket keys: at start (before lb:start), and at every change. */
  | { type: 'lb:tls'; state: TlsState }
  | { type: 'lb:stop'; graceMs: number }
  | LimitGrant
  | LimitRecall;

/** What a worker reports every second: its traffic so far, draining servers, requests in flight. */
export interface WorkerReport {
  type: 'lb:report';
  traffic: TrafficStats;
  draining: Array<{ service: string; backend: string }>;
  /** [service, backend origin, requests in flight] */
  inFlight: Array<[string, string, number]>;
}

export type FromWorker =
  /** The worker listens for messages: anything sent before would be lost. */
  | { type: 'lb:ready' }
  | { type: 'lb:listening'; addresses: Record<string, AddressInfo> }
  | { type: 'lb:failed'; message: string }
  | { type: 'lb:reloaded' }
  | { type: 'lb:reload-failed'; message: string }
  | { type: 'lb:outlier'; service: string; origin: string }
  | { type: 'lb:acme-challenges-applied'; version: number }
  | LimitTake
  | LimitReturn
  | WorkerReport;

export function isFromWorker(message: unknown): message is FromWorker {
  return typeof message === 'object' && message !== null && typeof (message as { type?: unknown }).type === 'string' && (message as { type: string }).type.startsWith('lb:');
}
