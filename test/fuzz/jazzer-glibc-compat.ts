// Jazzer.js 4.0.0 ships its libFuzzer addon prebuilt only, built with glibc 2.38 and GCC 13.
// Debian 12 (this project's machines and CI) has glibc 2.36 and GCC 12's libstdc++, so the addon
// does not load there, and it cannot be built from source without Code Intelligence's libFuzzer
// fork from GitHub. It uses three symbols that are new in those versions, each with an older
// equivalent: C23's __isoc23_strtol/strtoul differ from strtol/strtoul only in reading a "0b"
// prefix with base 0 or 2, which libFuzzer's decimal flag parsing never uses; GCC 13's
// std::ios_base_library_init() does what constructing a std::ios_base::Init did before (that
// constructor reads only static state, not `this`). The references are rebound to the older
// names (rewritten in .dynstr, their version cleared) and the new version requirements made weak,
// which the dynamic loader then skips. The patch is applied in place, only when loading fails for
// that reason, so it is never applied where the system is new enough.
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const SHT_DYNSYM = 11;
const SHT_GNU_VERNEED = 0x6ffffffe;
const SHT_GNU_VERSYM = 0x6fffffff;
const VER_FLG_WEAK = 2;
const rebind = new Map([
  ['__isoc23_strtol', 'strtol'],
  ['__isoc23_strtoul', 'strtoul'],
  ['_ZSt21ios_base_library_initv', '_ZNSt8ios_base4InitC1Ev'],
]);
const tooNew = new Set(['GLIBC_2.38', 'GLIBCXX_3.4.32']);

function addonPath(): string {
  return require.resolve(`@jazzer.js/fuzzer/prebuilds/fuzzer-${process.platform}-${process.arch}.node`);
}

function cString(buf: Buffer, at: number): string {
  return buf.toString('latin1', at, buf.indexOf(0, at));
}

function patch(file: string): void {
  const elf = readFileSync(file);
  if (elf.readUInt32BE(0) !== 0x7f454c46 || elf[4] !== 2 || elf[5] !== 1) throw new Error(`${file}: not a little-endian ELF64 file`);
  const shoff = Number(elf.readBigUInt64LE(0x28));
  const shentsize = elf.readUInt16LE(0x3a);
  const sections = Array.from({ length: elf.readUInt16LE(0x3c) }, (_, i) => {
    const at = shoff + i * shentsize;
    return { type: elf.readUInt32LE(at + 4), offset: Number(elf.readBigUInt64LE(at + 0x18)), size: Number(elf.readBigUInt64LE(at + 0x20)), link: elf.readUInt32LE(at + 0x28), info: elf.readUInt32LE(at + 0x2c) };
  });
  const find = (type: number) => {
    const section = sections.find((s) => s.type === type);
    if (!section) throw new Error(`${file}: no section of type ${type.toString(16)}`);
    return section;
  };
  const dynsym = find(SHT_DYNSYM);
  const dynstr = sections[dynsym.link]!.offset;
  const versym = find(SHT_GNU_VERSYM).offset;
  const verneed = find(SHT_GNU_VERNEED);
  let rebound = 0;
  for (let i = 0; i < dynsym.size / 24; i++) {
    const nameAt = dynstr + elf.readUInt32LE(dynsym.offset + i * 24);
    const target = rebind.get(cString(elf, nameAt));
    if (target === undefined) continue;
    // Shorter than the old name, so it fits in place; a suffix that another symbol shares stays intact.
    elf.write(`${target}\0`, nameAt, 'latin1');
    elf.writeUInt16LE(1, versym + i * 2); // VER_NDX_GLOBAL: the default version of the name
    rebound++;
  }
  let weakened = 0;
  let need = verneed.offset;
  for (let n = 0; n < verneed.info; n++) {
    let aux = need + elf.readUInt32LE(need + 8);
    for (let a = 0; a < elf.readUInt16LE(need + 2); a++) {
      if (tooNew.has(cString(elf, dynstr + elf.readUInt32LE(aux + 8)))) {
        elf.writeUInt16LE(elf.readUInt16LE(aux + 4) | VER_FLG_WEAK, aux + 4);
        weakened++;
      }
      aux += elf.readUInt32LE(aux + 12);
    }
    need += elf.readUInt32LE(need + 12);
  }
  if (rebound !== rebind.size || weakened !== tooNew.size) throw new Error(`${file}: not the build this patch knows (${rebound} symbols, ${weakened} requirements rewritten)`);
  writeFileSync(file, elf);
}

/** Loads Jazzer.js's addon, patching it first where this glibc is too old for it. */
export function ensureJazzerLoads(): boolean {
  const file = addonPath();
  try {
    require(file);
    return false;
  } catch (err) {
    if (!/version `(GLIBC_2\.38|GLIBCXX_3\.4\.32)' not found/.test(String(err))) throw err;
  }
  patch(file);
  require(file);
  return true;
}
