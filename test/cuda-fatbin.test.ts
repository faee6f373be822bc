/**
 * The GPU code in the native binary, read from its ELF section .nv_fatbin (no GPU needed): each CUDA
 * source file contributes one fat binary, and each must carry SASS for sm_75 (T4), sm_80 (A100, A30),
 * sm_86 (A10, A40, RTX 30xx), sm_89 (L4, L40, RTX 40xx) and sm_90 (H100, H200), plus compute_90 PTX that
 * the driver compiles for newer GPUs: the default CMAKE_CUDA_ARCHITECTURES of CMakeLists.txt. A build
 * with only sm_90 would leave every other GPU without a kernel (compute_90 PTX cannot run on older parts).
 *
 * Fat binary layout as the CUDA toolkit writes it (checked against nvcc 13 output): a header {magic
 * 0xBA55ED50 u32, version u16, header size u16, entries' size u64}, then entries {kind u16 (1 PTX,
 * 2 ELF/SASS), version u16, header size u32, payload size u32, ..., architecture u32 at byte 28}.
 */
import * as fs from 'fs';

import { backends } from '../lib';
import { nativePath } from '../lib/native';
import { elfSection } from './support/elf';
import { testIf } from './support/skip';

interface FatbinEntry {
  kind: 'ptx' | 'sass';
  arch: number;
}

/** The fat binaries in a .nv_fatbin section, each as its list of entries. */
function fatbins(section: Buffer): FatbinEntry[][] {
  const out: FatbinEntry[][] = [];
  for (let p = 0; p + 16 <= section.length;) {
    if (section.readUInt32LE(p) !== 0xba55ed50) {
      p += 8; // fat binaries are 8-byte aligned in the section
      continue;
    }
    const headerSize = section.readUInt16LE(p + 6);
    const end = p + headerSize + Number(section.readBigUInt64LE(p + 8));
    const entries: FatbinEntry[] = [];
    for (let q = p + headerSize; q < end;) {
      const kind = section.readUInt16LE(q);
      entries.push({ kind: kind === 1 ? 'ptx' : 'sass', arch: section.readUInt32LE(q + 28) });
      q += section.readUInt32LE(q + 4) + section.readUInt32LE(q + 8);
    }
    out.push(entries);
    p = end;
  }
  return out;
}

const compiled = backends().cuda.compiled;

describe('CUDA architectures in the native binary', () => {
  testIf(compiled, 'this build has no CUDA (nvcc was not found at build time)')(
    'every fat binary has SASS for sm_75, sm_80, sm_86, sm_89, sm_90 and compute_90 PTX',
    () => {
      const section = elfSection(fs.readFileSync(nativePath()), '.nv_fatbin');
      expect(section).not.toBeNull();
      const bins = fatbins(section!);
      expect(bins.length).toBeGreaterThanOrEqual(5); // conv_simt, conv_mma_{tf32,bf16,f16}, gemv, ops, cuda_info
      for (const entries of bins) {
        const sass = entries.filter((e) => e.kind === 'sass').map((e) => e.arch);
        const ptx = entries.filter((e) => e.kind === 'ptx').map((e) => e.arch);
        expect([...new Set(sass)].sort()).toEqual([75, 80, 86, 89, 90]);
        expect(ptx).toEqual([90]);
      }
    },
  );
});
