import { seededRandom } from './backends.js';

/**
 * Bytes of nine letters, different for every seed and position (about 3:1 compressible): a body
 * whose every byte is checkable, so that one from another response or a reused buffer shows.
 */
export function seededText(seed: number, bytes: number): Buffer {
  const random = seededRandom(seed);
  const out = Buffer.allocUnsafe(bytes);
  for (let i = 0; i < bytes; i++) out[i] = 0x61 + Math.floor(random() * 9);
  return out;
}
