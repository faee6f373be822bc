/** Reading sections of an ELF64 little-endian file (enough to look at the CUDA fat binaries of the addon). */

/** The bytes of section `name` of an ELF64 file, or null when there is none. */
export function elfSection(buf: Buffer, name: string): Buffer | null {
  const shoff = Number(buf.readBigUInt64LE(0x28));
  const shentsize = buf.readUInt16LE(0x3a),
    shnum = buf.readUInt16LE(0x3c),
    shstrndx = buf.readUInt16LE(0x3e);
  const sh = (i: number) => {
    const o = shoff + i * shentsize;
    return {
      name: buf.readUInt32LE(o),
      offset: Number(buf.readBigUInt64LE(o + 24)),
      size: Number(buf.readBigUInt64LE(o + 32)),
    };
  };
  const strtab = sh(shstrndx);
  for (let i = 0; i < shnum; i++) {
    const s = sh(i);
    const start = strtab.offset + s.name;
    const n = buf.toString('latin1', start, buf.indexOf(0, start));
    if (n === name) return buf.subarray(s.offset, s.offset + s.size);
  }
  return null;
}
