import { hookOf, listedMapElement, mapElementText, partsDiff, splitBody } from './nft-parts';

describe('nft parts (incremental tables)', () => {
  it('splits a body into its top-level declarations; braces in quotes do not count; anything else at the top: undefined', () => {
    const parts = splitBody('set s { type ipv4_addr; }\nchain c {\n  log prefix "a { b" accept comment "x}"\n}\nmap m { type ifname : verdict; }');
    expect([...parts!.keys()]).toEqual(['set s', 'chain c', 'map m']);
    expect(parts!.get('chain c')!.text).toBe('chain c {\n  log prefix "a { b" accept comment "x}"\n}');
    expect(splitBody('flush ruleset\nchain c { }')).toBeUndefined();
    expect(splitBody('chain c { accept')).toBeUndefined();
    expect(splitBody('chain c { }\nchain c { }')).toBeUndefined();
    expect(hookOf('chain f {\n  type filter hook forward priority 0; policy accept;\n}')).toBe('type filter hook forward priority 0');
    expect(hookOf('chain c { accept }')).toBeUndefined();
  });

  it('writes map elements as nft lists them, and reads the listing back to the same text', () => {
    expect(mapElementText({ key: ['br0', '10.0.0.5'], value: 'jump c' })).toEqual({ text: '"br0" . 10.0.0.5 : jump c' });
    expect(mapElementText({ key: ['br0', '10.0.0.5/32'], value: 'accept' })).toEqual({ text: '"br0" . 10.0.0.5 : accept' });
    expect(mapElementText({ key: ['7'], value: '12' })).toEqual({ text: '7 : 12' });
    expect(mapElementText({ key: ['fd00:0::1'], value: 'drop' })).toEqual({ error: expect.stringMatching(/not a canonical IP/) });
    expect(listedMapElement([{ concat: ['br0', '10.0.0.5'] }, { jump: { target: 'c' } }])).toBe('"br0" . 10.0.0.5 : jump c');
    expect(listedMapElement([{ concat: ['br0', { prefix: { addr: '10.1.0.0', len: 16 } }] }, { accept: null }])).toBe('"br0" . 10.1.0.0/16 : accept');
    expect(listedMapElement(['br0', { drop: null }])).toBe('"br0" : drop');
    expect(listedMapElement([{ concat: ['br0', 'fd00::5'] }, { goto: { target: 'c' } }])).toBe('"br0" . fd00::5 : goto c');
  });

  it('diffs: one changed chain is flushed and written again, elements one by one, nothing when equal; a changed map declaration: undefined', () => {
    const body = (rule: string) => splitBody(`map m { type ifname : verdict; }\nchain a { ${rule} }\nchain b { drop }`)!;
    const held = { parts: body('accept'), sets: new Map(), maps: new Map([['m', ['"x" : jump a']]]), counters: ['n'], mark: 'netloom_1' };
    expect(partsDiff('inet t', held, held)).toBe('');
    const script = partsDiff('inet t', held, { ...held, parts: body('drop'), maps: new Map([['m', ['"x" : jump b', '"y" : accept']]]), mark: 'netloom_2' })!;
    expect(script.split('\n')).toEqual([
      'flush chain inet t a',
      'delete element inet t m { "x" }',
      'delete chain inet t netloom_1',
      'table inet t {',
      'chain netloom_2 {',
      '}',
      'chain a { drop }',
      '}',
      'add element inet t m { "x" : jump b, "y" : accept }',
      '',
    ]);
    // A chain and the map jumping to it both gone: the map first, or the chain would still be in use.
    const gone = partsDiff('inet t', { ...held, parts: splitBody('chain a { accept }\nmap m { type ifname : verdict; }\nchain b { drop }')! }, { ...held, parts: splitBody('chain b { drop }')!, maps: new Map() })!;
    expect(gone.split('\n').filter((l) => l.startsWith('delete '))).toEqual(['delete map inet t m', 'delete chain inet t a']);
    const remapped = splitBody('map m { type ifname : verdict; flags interval; }\nchain a { accept }\nchain b { drop }')!;
    expect(partsDiff('inet t', held, { ...held, parts: remapped })).toBeUndefined();
  });
});
