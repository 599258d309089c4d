import { idFloor, isId, newId } from './ids';

describe('newId', () => {
  it('makes RFC 9562 version 7 UUIDs', () => {
    const id = newId();
    expect(isId(id)).toBe(true);
    expect(id[14]).toBe('7');
    expect(['8', '9', 'a', 'b']).toContain(id[19]);
  });

  it('sorts in creation order, also within one millisecond', () => {
    const ids = Array.from({ length: 5000 }, () => newId(1_700_000_000_000));
    expect([...ids].sort()).toEqual(ids);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('never goes backwards when the clock does', () => {
    const later = newId(1_800_000_000_000);
    expect(newId(1_700_000_000_000) > later).toBe(true);
  });

  it('rejects what is not a UUID', () => {
    expect(isId('not-an-id')).toBe(false);
    expect(isId(newId().toUpperCase())).toBe(false);
  });

  it('bounds ids by time: ids of that millisecond or later are not less, earlier ones are', () => {
    const at = 1_750_000_000_123;
    const floor = idFloor(at);
    expect(isId(floor)).toBe(true);
    expect(Number.parseInt(floor.slice(0, 8) + floor.slice(9, 13), 16)).toBe(at);
    expect(`${idFloor(at - 1).slice(0, 14)}ffff-ffff-ffffffffffff` < floor).toBe(true);
    expect(newId(at) >= floor && idFloor(at + 1) > floor).toBe(true);
  });
});
