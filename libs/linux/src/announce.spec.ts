// Linux.announce without a kernel: what it runs, and what it refuses before anything runs.
import { Linux } from './linux';
import { NETLINK_PYTHON } from './netlink';
import { LinuxInputError } from './names';
import { CommandRunner, type CommandResult, type LinuxCommand, type RunOptions } from './runner';

class FakeRunner extends CommandRunner {
  readonly calls: { command: LinuxCommand; args: string[]; mutating: boolean }[] = [];
  override run(command: LinuxCommand, args: string[], opts: RunOptions): Promise<CommandResult> {
    this.calls.push({ command, args, mutating: opts.mutating });
    return Promise.resolve({ stdout: '', stderr: '', exitCode: 0 });
  }
}

describe('Linux.announce', () => {
  const setup = () => {
    const runner = new FakeRunner();
    return { runner, linux: new Linux(runner) };
  };

  it('runs python3 in the namespace through nsenter with the device and its IPv4 addresses, IPv6 skipped', async () => {
    const { runner, linux } = setup();
    await linux.announce('nl-ns1', 'ext0', ['10.0.0.5', 'fd00::5', '192.168.1.1']);
    expect(runner.calls).toHaveLength(1);
    const [call] = runner.calls;
    expect(call.command).toBe('nsenter');
    expect(call.mutating).toBe(true);
    expect(call.args.slice(0, 4)).toEqual(['--net=/run/netns/nl-ns1', '--', NETLINK_PYTHON, '-c']);
    expect(call.args.slice(5)).toEqual(['ext0', '10.0.0.5', '192.168.1.1']);
    expect(call.args[4]).toContain('AF_PACKET');
  });

  it('in the agent namespace: nsenter enters no namespace', async () => {
    const { runner, linux } = setup();
    await linux.announce(undefined, 'eth0', ['10.0.0.5']);
    expect(runner.calls[0].args.slice(0, 2)).toEqual(['--', NETLINK_PYTHON]);
  });

  it('runs nothing without an IPv4 address', async () => {
    const { runner, linux } = setup();
    await linux.announce('nl-ns1', 'ext0', []);
    await linux.announce('nl-ns1', 'ext0', ['fd00::5']);
    expect(runner.calls).toEqual([]);
  });

  it('refuses a bad device, namespace or address before anything runs', async () => {
    const { runner, linux } = setup();
    await expect(linux.announce('nl-ns1', 'bad dev', ['10.0.0.5'])).rejects.toThrow(LinuxInputError);
    await expect(linux.announce('bad/ns', 'ext0', ['10.0.0.5'])).rejects.toThrow(LinuxInputError);
    await expect(linux.announce('nl-ns1', 'ext0', ['10.0.0.5', '10.0.0.6/24'])).rejects.toThrow(LinuxInputError);
    await expect(linux.announce('nl-ns1', 'ext0', ['10.0.0.5', '-c'])).rejects.toThrow(LinuxInputError);
    await expect(linux.announce('nl-ns1', 'ext0', '10.0.0.5' as never)).rejects.toThrow(LinuxInputError);
    expect(runner.calls).toEqual([]);
  });
});
