import { assertIfName, assertNetnsName } from '@netloom/linux';
import { Names } from './naming';

const names = new Names('nl', 'host-a');
const other = new Names('nl', 'host-b');
const ids = ['net-1', 'port-1', 'port-2', '0195f3a2-7c1e-7b4a-9d2e-3f6a8b1c0d9e', 'x'.repeat(200), 'ünïcødé id'];

describe('Names', () => {
  it('derives fixed names from ids (pinned: a change would orphan every object on upgrade)', () => {
    expect(names.hostTag).toBe('c151e3');
    expect(names.bridge('net-1')).toBe('nlb17d5a8f0');
    expect(names.veth('port-1')).toBe('nlv133c4140');
    expect(names.portInterface('port-1', true)).toBe('nlp133c4140');
    expect(names.portInterface('port-1', false)).toBe('eth0');
    expect(names.portNetns('port-1')).toBe('nl-c151e3-133c41404c');
    expect(names.netnsPrefix).toBe('nl-c151e3-');
  });

  it('is stable: the same id always gives the same name, also across instances', () => {
    const again = new Names('nl', 'host-a');
    for (const id of ids) {
      expect(names.bridge(id)).toBe(again.bridge(id));
      expect(names.veth(id)).toBe(again.veth(id));
      expect(names.portInterface(id, true)).toBe(again.portInterface(id, true));
      expect(names.portNetns(id)).toBe(again.portNetns(id));
    }
  });

  it('gives different ids different names', () => {
    for (const make of [(id: string) => names.bridge(id), (id: string) => names.veth(id), (id: string) => names.portNetns(id)]) {
      expect(new Set(ids.map(make)).size).toBe(ids.length);
    }
    // A network and a port with the same id still get different links.
    expect(names.bridge('same')).not.toBe(names.veth('same'));
  });

  it.each(['n', 'nl', 'ab12', 'z9'])('link names fit in 15 bytes and are valid for ip (prefix %p)', (prefix) => {
    const n = new Names(prefix, 'host-a');
    for (const id of ids) {
      for (const name of [n.bridge(id), n.vlan(id), n.veth(id), n.portInterface(id, true), n.portInterface(id, false)]) {
        expect(Buffer.byteLength(name)).toBeLessThanOrEqual(15);
        expect(assertIfName(name)).toBe(name);
      }
      // Namespace names are files in /run/netns: not bound by IFNAMSIZ, but must be valid.
      expect(assertNetnsName(n.portNetns(id))).toBe(n.portNetns(id));
      expect(n.ownsLink(n.bridge(id))).toBe(true);
      expect(n.ownsLink(n.veth(id))).toBe(true);
      expect(n.ownsLink(n.vlan(id))).toBe(true);
      expect(n.ownsNetns(n.portNetns(id))).toBe(true);
    }
  });

  it.each(['NL', '', 'toolong', '1a', 'nl-', 'n l', 'abcde', 'é'])('rejects the prefix %p', (prefix) => {
    expect(() => new Names(prefix, 'host-a')).toThrow(/invalid prefix/);
  });

  it.each([
    ['nlb17d5a8f0', true],
    ['nlv133c4140', true],
    ['nlb00000000', true],
    // The peer in a shared namespace is not a root-namespace link of ours.
    ['nlp133c4140', false],
    ['eth0', false],
    ['lo', false],
    ['docker0', false],
    ['nlx12345678', true], // a VXLAN device
    ['nly12345678', false],
    ['nlb1234567', false],
    ['nlb123456789', false],
    ['nlbABCDEF12', false],
    ['nlv1234567g', false],
    ['xnlb12345678', false],
    ['nlb12345678.1', false],
    ['nl', false],
    ['abb12345678', false],
  ])('ownsLink(%p) is %p', (name, owned) => {
    expect(names.ownsLink(name)).toBe(owned);
  });

  it('ownsNetns: only namespaces of this prefix and this host', () => {
    expect(names.ownsNetns(names.portNetns('port-1'))).toBe(true);
    expect(names.ownsNetns(other.portNetns('port-1'))).toBe(false);
    expect(names.ownsNetns(new Names('ab', 'host-a').portNetns('port-1'))).toBe(false);
    for (const ns of ['customer', 'nl', 'nl-', 'nl-c151e3', 'c151e3-133c41404c', 'nlc151e3-133c41404c']) {
      expect(names.ownsNetns(ns)).toBe(false);
    }
  });

  it('the host tag separates two agents on one machine (shared /run/netns), not their link names', () => {
    expect(names.hostTag).not.toBe(other.hostTag);
    expect(names.portNetns('port-1')).not.toBe(other.portNetns('port-1'));
    expect(other.ownsNetns(names.portNetns('port-1'))).toBe(false);
    // Links live in each agent's own namespace, so they need no host tag.
    expect(other.bridge('net-1')).toBe(names.bridge('net-1'));
  });

  it('two prefixes never claim each other\'s links or namespaces', () => {
    const n = new Names('n', 'host-a');
    const nlb = new Names('nlb', 'host-a');
    for (const id of ids) {
      expect(n.ownsLink(names.bridge(id))).toBe(false);
      expect(names.ownsLink(n.bridge(id))).toBe(false);
      expect(names.ownsLink(nlb.veth(id))).toBe(false);
      expect(nlb.ownsLink(names.bridge(id))).toBe(false);
      expect(n.ownsNetns(names.portNetns(id))).toBe(false);
      expect(names.ownsNetns(nlb.portNetns(id))).toBe(false);
    }
  });

  it('alias names what a link serves', () => {
    expect(Names.alias('port', 'port-1')).toBe('netloom:port:port-1');
  });
});
