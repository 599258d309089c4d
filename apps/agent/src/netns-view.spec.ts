import { IpBatch, Linux } from '@netloom/linux';
import { NetnsView } from './netns-view';

/** /run/netns and the mounts the test edits, read through the two calls the view makes (anything else fails). */
function fakeHost(files: string[], mounted: string[]) {
  const host = { files: [...files], mounted: new Set(mounted), mountinfoReads: 0 };
  const linux = {
    netnsList: () => Promise.resolve([...host.files].sort()),
    netnsMounted: () => {
      host.mountinfoReads++;
      return Promise.resolve(new Set(host.mounted));
    },
  } as unknown as Linux;
  return { host, linux };
}

describe('NetnsView', () => {
  it('reads mountinfo first, then only when the directory shows a name it does not know', async () => {
    const { host, linux } = fakeHost(['a', 'dead'], ['a']);
    const view = new NetnsView(linux);
    expect(await view.read()).toEqual({ files: ['a', 'dead'], mounted: new Set(['a']) });
    // Known, a dead file included: nothing read again.
    await view.read();
    expect(host.mountinfoReads).toBe(1);
    // A name made by someone else: read again.
    host.files.push('b');
    host.mounted.add('b');
    expect((await view.read()).mounted).toEqual(new Set(['a', 'b']));
    expect(host.mountinfoReads).toBe(2);
    // A resync reads again.
    view.invalidate();
    await view.read();
    expect(host.mountinfoReads).toBe(3);
  });

  it('knows what its own batch made and removed (a failed line changes nothing), and reads nothing for them', async () => {
    const { host, linux } = fakeHost(['a', 'dead'], ['a']);
    const view = new NetnsView(linux);
    await view.read();
    const batch = new IpBatch().netnsDel('dead').netnsAdd('dead').netnsAdd('c').netnsAdd('d').netnsDel('a');
    host.files = ['dead', 'c'];
    host.mounted = new Set(['dead', 'c']);
    view.ran(batch, { ok: false, failed: [{ line: 4, text: 'netns add d', error: 'File exists' }] });
    expect(await view.read()).toEqual({ files: ['c', 'dead'], mounted: new Set(['c', 'dead']) });
    expect(host.mountinfoReads).toBe(1);
  });
});
