import { vlanProgramCode, vlanProgramFile, vlanProgramObject } from './bpf-vlan';
import { TcBatch } from './tc-batch';
import { parseTcFilters } from './tc-parse';

describe('VLAN programs', () => {
  it('are named by kind and VLAN id, refusing an id outside 1-4094', () => {
    expect(vlanProgramFile({ kind: 'tag', vlanId: 100 })).toBe('netloom-vlan-tag-100.o');
    expect(vlanProgramFile({ kind: 'untag', vlanId: 4094 })).toBe('netloom-vlan-untag-4094.o');
    expect(vlanProgramFile({ kind: 'untagged' })).toBe('netloom-vlan-untagged.o');
    for (const vlanId of [0, 4095, 1.5, NaN]) expect(() => vlanProgramFile({ kind: 'tag', vlanId })).toThrow(/invalid vlan .*1-4094/);
    expect(() => new TcBatch().vlanFilter('v0', 'ingress', 1, { kind: 'untag', vlanId: 0 })).toThrow(/invalid vlan .*1-4094/);
  });

  it('jump to the drop at the end, and differ only in the VLAN id', () => {
    const code = vlanProgramCode({ kind: 'untag', vlanId: 100 });
    const insns = code.length / 8;
    const at = (i: number) => ({ op: code[i * 8], off: code.readInt16LE(i * 8 + 2), imm: code.readInt32LE(i * 8 + 4) });
    // The last two: r0 = TC_ACT_SHOT; exit. Every conditional jump lands on the first of them.
    expect(at(insns - 2)).toEqual({ op: 0xb7, off: 0, imm: 2 });
    expect(at(insns - 1).op).toBe(0x95);
    for (let i = 0; i < insns; i++) if ([0x15, 0x55].includes(at(i).op)) expect(i + 1 + at(i).off).toBe(insns - 2);
    expect([...Array(insns).keys()].filter((i) => at(i).imm === 100)).toHaveLength(1);
    const other = vlanProgramCode({ kind: 'untag', vlanId: 200 });
    expect([...Array(insns).keys()].filter((i) => !code.subarray(i * 8, i * 8 + 8).equals(other.subarray(i * 8, i * 8 + 8)))).toHaveLength(1);
  });

  it('come as a relocatable eBPF ELF: the code in section tc, a GPL license, one global function symbol', () => {
    const elf = vlanProgramObject({ kind: 'tag', vlanId: 7 });
    expect(elf.subarray(0, 4).toString('latin1')).toBe('\x7fELF');
    expect([elf[4], elf[5], elf.readUInt16LE(16), elf.readUInt16LE(18)]).toEqual([2, 1, 1, 247]);
    const shoff = Number(elf.readBigUInt64LE(40));
    const count = elf.readUInt16LE(60);
    const section = (i: number) => {
      const b = shoff + 64 * i;
      return { name: elf.readUInt32LE(b), type: elf.readUInt32LE(b + 4), offset: Number(elf.readBigUInt64LE(b + 24)), size: Number(elf.readBigUInt64LE(b + 32)) };
    };
    const names = section(elf.readUInt16LE(62));
    const nameOf = (n: number) => elf.toString('latin1', names.offset + n, elf.indexOf(0, names.offset + n));
    const byName = new Map([...Array(count).keys()].slice(1).map((i) => [nameOf(section(i).name), section(i)]));
    expect([...byName.keys()]).toEqual(['.strtab', 'tc', 'license', '.symtab']);
    const tc = byName.get('tc')!;
    expect(elf.subarray(tc.offset, tc.offset + tc.size).equals(vlanProgramCode({ kind: 'tag', vlanId: 7 }))).toBe(true);
    const license = byName.get('license')!;
    expect(elf.toString('latin1', license.offset, license.offset + license.size)).toBe('GPL\0');
    const sym = byName.get('.symtab')!.offset + 24;
    expect({ name: nameOf(elf.readUInt32LE(sym)), info: elf[sym + 4], shndx: elf.readUInt16LE(sym + 6), size: Number(elf.readBigUInt64LE(sym + 16)) }).toEqual({
      name: 'netloom_vlan_tag',
      info: 0x12,
      shndx: 2,
      size: tc.size,
    });
  });

  it('are loaded by a filter line naming the object file, which the batch keeps to be written', () => {
    const batch = new TcBatch('ns1').vlanFilter('nlw0a1b2c3d', 'egress', 3, { kind: 'untag', vlanId: 42 }, 'network/n1');
    expect(batch.lines).toEqual([{ text: 'filter replace dev nlw0a1b2c3d egress protocol all prio 3 handle 1 bpf da obj /run/netloom/bpf/netloom-vlan-untag-42.o sec tc', key: 'network/n1' }]);
    expect([...batch.programs]).toEqual([['netloom-vlan-untag-42.o', { kind: 'untag', vlanId: 42 }]]);
  });

  it("are found again in tc's listing of a hook (the bare heads without options left out)", () => {
    const listed =
      '[{"protocol":"all","pref":1,"kind":"bpf","chain":0},{"protocol":"all","pref":1,"kind":"bpf","chain":0,"options":{"handle":"0x1","bpf_name":"netloom-vlan-tag-100.o:[tc]","direct-action":true,"not_in_hw":true,"prog":{"id":682,"name":"netloom_vlan_ta","tag":"dd9ba2464b907bd2","jited":1}}}]';
    expect(parseTcFilters(listed)).toEqual([{ kind: 'bpf', prio: 1, handle: '0x1', bpfName: 'netloom-vlan-tag-100.o:[tc]' }]);
    expect(parseTcFilters('[]')).toEqual([]);
    expect(parseTcFilters('')).toEqual([]);
  });
});
