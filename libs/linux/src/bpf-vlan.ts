/**
 * 802.1Q tagging in `tc` without the kernel's 8021q module nor `act_vlan`: three tiny eBPF
 * classifiers (direct action) for a port of a trunk bridge, and the ELF object `tc … bpf obj`
 * loads them from. They are assembled here, not compiled: no clang on the hosts, and each
 * program is a dozen instructions whose only parameter is the VLAN id.
 *
 * - `tag` (on the port's ingress: frames from the network, going to the wire): an untagged
 *   frame gets the VLAN's tag; a frame that already carries one is dropped.
 * - `untag` (on its egress: frames from the wire, going to the network): a frame tagged with
 *   the VLAN (802.1Q, not 802.1ad) loses its tag; any other is dropped.
 * - `untagged` (both ways, for a flat network on a trunk): tagged frames are dropped.
 */
import { assertVlanId } from './names';

export type VlanProgram = { kind: 'tag' | 'untag'; vlanId: number } | { kind: 'untagged' };

/** The object's file name: the program is wholly named by it (a VLAN id outside 1-4094 is refused). */
export function vlanProgramFile(p: VlanProgram): string {
  if (p.kind === 'untagged') return 'netloom-vlan-untagged.o';
  return `netloom-vlan-${p.kind}-${assertVlanId(p.vlanId)}.o`;
}

/** The ELF section `tc` loads the program from (`sec tc`). */
export const VLAN_PROGRAM_SECTION = 'tc';

// struct __sk_buff offsets (uapi/linux/bpf.h) and constants.
const SKB_VLAN_PRESENT = 20;
const SKB_VLAN_TCI = 24;
const SKB_VLAN_PROTO = 28;
/** htons(ETH_P_8021Q) as the helper and `vlan_proto` take it (network order, read as a little-endian word). */
const ETH_P_8021Q_BE = 0x0081;
const HELPER_SKB_VLAN_PUSH = 18;
const HELPER_SKB_VLAN_POP = 19;
const TC_ACT_OK = 0;
const TC_ACT_SHOT = 2;

type Insn = { op: number; dst?: number; src?: number; off?: number | string; imm?: number };
const ldxw = (dst: number, src: number, off: number): Insn => ({ op: 0x61, dst, src, off });
const jeq = (dst: number, imm: number, to: string): Insn => ({ op: 0x15, dst, imm, off: to });
const jne = (dst: number, imm: number, to: string): Insn => ({ op: 0x55, dst, imm, off: to });
const and32 = (dst: number, imm: number): Insn => ({ op: 0x54, dst, imm });
const mov = (dst: number, imm: number): Insn => ({ op: 0xb7, dst, imm });
const call = (helper: number): Insn => ({ op: 0x85, imm: helper });
const exit: Insn = { op: 0x95 };

/** The program's instructions, a label (a string) standing where a jump lands. */
function source(p: VlanProgram): (Insn | string)[] {
  const drop = ['drop', mov(0, TC_ACT_SHOT), exit];
  const accept = [mov(0, TC_ACT_OK), exit];
  switch (p.kind) {
    case 'untagged':
      return [ldxw(2, 1, SKB_VLAN_PRESENT), jne(2, 0, 'drop'), ...accept, ...drop];
    case 'tag':
      return [
        ldxw(2, 1, SKB_VLAN_PRESENT),
        jne(2, 0, 'drop'),
        mov(2, ETH_P_8021Q_BE),
        mov(3, p.vlanId),
        call(HELPER_SKB_VLAN_PUSH),
        jne(0, 0, 'drop'),
        ...accept,
        ...drop,
      ];
    case 'untag':
      return [
        ldxw(2, 1, SKB_VLAN_PRESENT),
        jeq(2, 0, 'drop'),
        ldxw(2, 1, SKB_VLAN_PROTO),
        jne(2, ETH_P_8021Q_BE, 'drop'),
        ldxw(2, 1, SKB_VLAN_TCI),
        and32(2, 0xfff),
        jne(2, p.vlanId, 'drop'),
        call(HELPER_SKB_VLAN_POP),
        jne(0, 0, 'drop'),
        ...accept,
        ...drop,
      ];
  }
}

/** eBPF machine code (8 bytes an instruction, little-endian), jumps resolved. */
export function vlanProgramCode(p: VlanProgram): Buffer {
  vlanProgramFile(p);
  const items = source(p);
  const labels = new Map<string, number>();
  const insns: Insn[] = [];
  for (const item of items) {
    if (typeof item === 'string') labels.set(item, insns.length);
    else insns.push(item);
  }
  const code = Buffer.alloc(insns.length * 8);
  insns.forEach((insn, i) => {
    const off = typeof insn.off === 'string' ? labels.get(insn.off)! - (i + 1) : (insn.off ?? 0);
    code[i * 8] = insn.op;
    code[i * 8 + 1] = ((insn.src ?? 0) << 4) | (insn.dst ?? 0);
    code.writeInt16LE(off, i * 8 + 2);
    code.writeInt32LE(insn.imm ?? 0, i * 8 + 4);
  });
  return code;
}

/** The relocatable ELF (EM_BPF) `tc … bpf obj FILE sec tc` loads: the code, a license, one function symbol. */
export function vlanProgramObject(p: VlanProgram): Buffer {
  return bpfObject(VLAN_PROGRAM_SECTION, `netloom_vlan_${p.kind}`, vlanProgramCode(p));
}

const EM_BPF = 247;
const SHT = { PROGBITS: 1, SYMTAB: 2, STRTAB: 3 };
const SHF = { WRITE: 1, ALLOC: 2, EXECINSTR: 4 };

function bpfObject(section: string, symbol: string, code: Buffer): Buffer {
  const strings = ['', '.strtab', section, 'license', '.symtab', symbol];
  const at = new Map<string, number>();
  let strtab = Buffer.alloc(0);
  for (const s of strings) {
    at.set(s, strtab.length);
    strtab = Buffer.concat([strtab, Buffer.from(`${s}\0`, 'latin1')]);
  }
  const license = Buffer.from('GPL\0', 'latin1');
  // Two symbols: the null one, then the program (global function at offset 0 of its section).
  const symtab = Buffer.alloc(48);
  symtab.writeUInt32LE(at.get(symbol)!, 24);
  symtab[28] = (1 << 4) | 2; // STB_GLOBAL, STT_FUNC
  symtab.writeUInt16LE(2, 30); // in section 2 (the code)
  symtab.writeBigUInt64LE(BigInt(code.length), 40);

  const parts: { data: Buffer; offset: number }[] = [];
  let end = 64;
  const place = (data: Buffer, align: number): number => {
    const offset = Math.ceil(end / align) * align;
    parts.push({ data, offset });
    end = offset + data.length;
    return offset;
  };
  const headers = [
    { name: '.strtab', type: SHT.STRTAB, flags: 0, offset: place(strtab, 1), size: strtab.length, link: 0, info: 0, align: 1, entsize: 0 },
    { name: section, type: SHT.PROGBITS, flags: SHF.ALLOC | SHF.EXECINSTR, offset: place(code, 8), size: code.length, link: 0, info: 0, align: 8, entsize: 0 },
    { name: 'license', type: SHT.PROGBITS, flags: SHF.ALLOC | SHF.WRITE, offset: place(license, 1), size: license.length, link: 0, info: 0, align: 1, entsize: 0 },
    { name: '.symtab', type: SHT.SYMTAB, flags: 0, offset: place(symtab, 8), size: symtab.length, link: 1, info: 1, align: 8, entsize: 24 },
  ];
  const shoff = Math.ceil(end / 8) * 8;
  const out = Buffer.alloc(shoff + 64 * (headers.length + 1));
  out.write('\x7fELF', 0, 'latin1');
  out[4] = 2; // 64-bit
  out[5] = 1; // little-endian
  out[6] = 1; // ELF version
  out.writeUInt16LE(1, 16); // ET_REL
  out.writeUInt16LE(EM_BPF, 18);
  out.writeUInt32LE(1, 20);
  out.writeBigUInt64LE(BigInt(shoff), 40);
  out.writeUInt16LE(64, 52); // ELF header size
  out.writeUInt16LE(64, 58); // section header size
  out.writeUInt16LE(headers.length + 1, 60);
  out.writeUInt16LE(1, 62); // section names in .strtab
  for (const { data, offset } of parts) data.copy(out, offset);
  headers.forEach((h, i) => {
    const base = shoff + 64 * (i + 1);
    out.writeUInt32LE(at.get(h.name)!, base);
    out.writeUInt32LE(h.type, base + 4);
    out.writeBigUInt64LE(BigInt(h.flags), base + 8);
    out.writeBigUInt64LE(BigInt(h.offset), base + 24);
    out.writeBigUInt64LE(BigInt(h.size), base + 32);
    out.writeUInt32LE(h.link, base + 40);
    out.writeUInt32LE(h.info, base + 44);
    out.writeBigUInt64LE(BigInt(h.align), base + 48);
    out.writeBigUInt64LE(BigInt(h.entsize), base + 56);
  });
  return out;
}
