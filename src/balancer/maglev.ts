import type { HashPolicy } from '../config/types.js';
import { usable, type Backend, type Balancer, type PickContext } from './backend.js';
import { cookieValue } from './cookies.js';
import { hash32 } from './hash32.js';

/** Prime, and over 100× any pool we expect, so shares stay within about 1% of the weights. */
const tableSize = 65_537;

/**
 * Consistent hashing with Maglev lookup tables (Eisenbud et al., NSDI 2016): even spread by
 * weight, O(1) lookup, and adding a server to N moves only about 1/(N+1) of the keys.
 */
export class MaglevBalancer implements Balancer {
  readonly backends: readonly Backend[];
  private readonly policy: HashPolicy;
  private readonly table: Int32Array;

  constructor(backends: readonly Backend[], policy: HashPolicy) {
    this.backends = backends;
    this.policy = policy;
    this.table = buildTable(backends);
  }

  pick(context: PickContext, exclude?: Backend): Backend | undefined {
    if (this.table.length === 0) return undefined;
    let slot = hash32(this.keyOf(context)) % tableSize;
    // On exclusion, walk on through the table: the fallback is still stable for the key.
    for (let probe = 0; probe < tableSize; probe++) {
      const backend = this.backends[this.table[slot]!]!;
      if (usable(backend, exclude)) return backend;
      slot = (slot + 1) % tableSize;
    }
    return undefined;
  }

  private keyOf(context: PickContext): string {
    const { on, name } = this.policy;
    if (on === 'header' && context.headers) {
      const value = context.headers[name!.toLowerCase()];
      if (value !== undefined) return Array.isArray(value) ? value.join(',') : value;
    } else if (on === 'cookie' && context.headers) {
      const value = cookieValue(context.headers.cookie, name!);
      if (value !== undefined) return value;
    }
    // No header or cookie to hash on: the client address still keeps that client in one place.
    return context.clientIp;
  }
}

function buildTable(backends: readonly Backend[]): Int32Array {
  const members = backends.map((backend, index) => ({ index, weight: backend.weight, id: backend.id })).filter((m) => m.weight > 0);
  if (members.length === 0) return new Int32Array(0);
  const table = new Int32Array(tableSize).fill(-1);
  const offsets = members.map((m) => hash32(m.id, 0x9747b28c) % tableSize);
  const skips = members.map((m) => (hash32(m.id, 0x2c1b3c6d) % (tableSize - 1)) + 1);
  const next = members.map(() => 0);
  const maxWeight = Math.max(...members.map((m) => m.weight));
  const credit = members.map(() => 0);
  let filled = 0;
  while (filled < tableSize) {
    for (let i = 0; i < members.length && filled < tableSize; i++) {
      // Weighted Maglev: a member takes a turn each time its accumulated credit reaches the max.
      credit[i]! += members[i]!.weight;
      if (credit[i]! < maxWeight) continue;
      credit[i]! -= maxWeight;
      let slot: number;
      do {
        slot = (offsets[i]! + next[i]! * skips[i]!) % tableSize;
        next[i]!++;
      } while (table[slot] !== -1);
      table[slot] = members[i]!.index;
      filled++;
    }
  }
  return table;
}
