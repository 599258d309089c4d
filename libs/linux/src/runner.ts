import { createInterface } from 'node:readline';
import { execa } from 'execa';
import { spawner } from './spawner';

/**
 * The only programs this library runs (`nsenter` only to run `ip`, `bridge` or `tc` in a
 * namespace, or Debian's python3 sending gratuitous ARP: `Linux.announce`); `netlink` is a batch
 * sent by the long-lived netlink helper (`netlink.ts`).
 */
export type LinuxCommand = 'ip' | 'bridge' | 'tc' | 'nft' | 'sysctl' | 'nsenter' | 'netlink';

/** What a command printed and how it ended. */
export interface CommandResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

/** One entry of {@link CommandRunner.log}. */
export interface CommandLog {
  command: LinuxCommand;
  args: string[];
  mutating: boolean;
  /** Wall time in milliseconds (0 for a stream, logged when it starts). */
  ms: number;
  exitCode?: number;
  /** Done inside this process (e.g. a /proc/sys write), no child process. */
  inProcess?: boolean;
}

/** Options of {@link CommandRunner.run}. */
export interface RunOptions {
  /** Written to the command's stdin (e.g. a batch or an nft script). Never logged. */
  input?: string;
  /** Whether the command changes kernel state; counted in {@link CommandRunner.mutatingCount}. */
  mutating: boolean;
  /** Throw {@link LinuxCommandError} on a non-zero exit (default true). */
  reject?: boolean;
  /** Called with the child's pid as soon as it is spawned (e.g. to tell its changes from others' in `nft monitor`). */
  onSpawn?: (pid: number) => void;
}

/** A long-running child started by {@link CommandRunner.stream}. */
export interface StreamHandle {
  /** Kills exactly this child (SIGTERM, SIGKILL 5 s later if it is still there). Idempotent. */
  stop(): void;
  readonly pid?: number;
  /** Resolves when the child has exited, for whatever reason. */
  readonly exited: Promise<void>;
  /** Writes to the child's stdin (a stream started with `stdin: true`); false when it cannot take it. */
  write(text: string): boolean;
}

/** A command that failed, timed out or could not start. Carries the args, never the stdin. */
export class LinuxCommandError extends Error {
  constructor(
    readonly command: string,
    readonly args: string[],
    /** -1 when the process never exited normally (not found, timed out, killed). */
    readonly exitCode: number,
    readonly stderr: string,
    message?: string,
  ) {
    super(message ?? `${command} ${args.join(' ')} failed (exit ${exitCode}): ${stderr.trim() || '(no stderr)'}`);
    this.name = 'LinuxCommandError';
  }
}

/** Per-command timeout: a kernel command that takes this long is stuck. */
export const COMMAND_TIMEOUT_MS = 30_000;

/** Options of the {@link CommandRunner} constructor. */
export interface RunnerOptions {
  /** How many entries {@link CommandRunner.log} keeps (oldest dropped first). Default 10 000. */
  logLimit?: number;
  /** Called with every entry as it is logged (e.g. to count commands by program); must not throw. */
  onCommand?: (entry: CommandLog) => void;
}

/**
 * Runs `ip`, `bridge`, `nft`, `sysctl` (and `nsenter` for batches in a namespace): argument arrays, no shell, stdin from a string, 30 s
 * timeout, a C locale so messages can be parsed. Short commands start through one small helper
 * process (see {@link Spawner}: forking a big process is slow), long-running ones with execa.
 * Keeps a log of every command.
 */
export class CommandRunner {
  /** Every command run (the most recent `logLimit`); tests read it to prove e.g. "no mutating command". */
  readonly log: CommandLog[] = [];
  private readonly logLimit: number;
  private readonly onCommand: ((entry: CommandLog) => void) | undefined;
  private mutations = 0;
  private reads = 0;

  constructor(options: RunnerOptions = {}) {
    this.logLimit = options.logLimit ?? 10_000;
    this.onCommand = options.onCommand;
  }

  /** Mutating commands run since construction (or the last {@link resetLog}). */
  get mutatingCount(): number {
    return this.mutations;
  }

  /** Read-only commands run since construction (or the last {@link resetLog}). */
  get readCount(): number {
    return this.reads;
  }

  /** Empties the log and zeroes both counters. */
  resetLog(): void {
    this.log.length = 0;
    this.mutations = 0;
    this.reads = 0;
  }

  /** Records work done without a child process (e.g. a write to /proc/sys), so the log stays complete. */
  record(entry: CommandLog): void {
    if (entry.mutating) this.mutations++;
    else this.reads++;
    this.log.push(entry);
    if (this.log.length > this.logLimit) this.log.splice(0, this.log.length - this.logLimit);
    this.onCommand?.(entry);
  }

  /**
   * Runs one command to completion. With `reject: false` a non-zero exit is returned as
   * `exitCode`; a command that cannot start or times out always throws {@link LinuxCommandError}.
   */
  async run(command: LinuxCommand, args: string[], opts: RunOptions): Promise<CommandResult> {
    const started = performance.now();
    // The environment as it is now (a caller may change PATH between commands), in the C locale.
    const result = await spawner.run(command, args, opts.input ?? '', { ...process.env, LC_ALL: 'C' }, COMMAND_TIMEOUT_MS, opts.onSpawn);
    const exitCode = result.error === undefined && typeof result.exitCode === 'number' ? result.exitCode : -1;
    this.record({ command, args: [...args], mutating: opts.mutating, ms: performance.now() - started, exitCode });
    const { stdout, stderr } = result;
    if (exitCode === -1) {
      // Never started (ENOENT), timed out or killed: nothing the caller could parse.
      throw new LinuxCommandError(command, [...args], -1, stderr, `${command} ${args.join(' ')}: ${result.error ?? 'did not exit normally'}`);
    }
    if (exitCode !== 0 && opts.reject !== false) {
      throw new LinuxCommandError(command, [...args], exitCode, stderr);
    }
    return { stdout, stderr, exitCode };
  }

  /**
   * Starts a long-running read-only command (e.g. `ip monitor`), calling `onLine` for every line
   * of its stdout and `onExit` once when it ends for any reason other than {@link StreamHandle.stop}.
   * The child dies with this process, however it ends (`setpriv --pdeathsig KILL`).
   * With `stdin: true` the caller writes to it ({@link StreamHandle.write}); otherwise it reads nothing.
   */
  stream(
    command: LinuxCommand,
    args: string[],
    onLine: (line: string) => void,
    onExit?: (error: LinuxCommandError) => void,
    opts: { stdin?: boolean } = {},
  ): StreamHandle {
    this.record({ command, args: [...args], mutating: false, ms: 0 });
    // Through setpriv (util-linux): the kernel kills the child when this process dies, even by
    // SIGKILL, so no helper outlives the agent. The death signal is set by the exec'd process
    // and survives its exec of the command (nothing here is set-uid), and it fires when the
    // thread that forked exits: Node spawns from its main thread, which lives as long as the process.
    const child = execa('setpriv', ['--pdeathsig', 'KILL', '--', command, ...args], {
      stdin: opts.stdin ? 'pipe' : 'ignore',
      buffer: false,
      reject: false,
      shell: false,
      env: { LC_ALL: 'C' },
    });
    let stopped = false;
    let stderrTail = '';
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => {
      stderrTail = (stderrTail + chunk).slice(-4096);
    });
    if (child.stdout) {
      createInterface({ input: child.stdout, crlfDelay: Infinity }).on('line', (line) => {
        if (!stopped) onLine(line);
      });
    }
    // A child that died before reading what was written: its end is reported through onExit.
    child.stdin?.on('error', () => undefined);
    const exited = child.then((result) => {
      if (stopped) return;
      stopped = true;
      const exitCode = typeof result.exitCode === 'number' ? result.exitCode : -1;
      onExit?.(new LinuxCommandError(command, [...args], exitCode, stderrTail, `${command} ${args.join(' ')} ended: ${result.shortMessage ?? `exit ${exitCode}`}`));
    });
    return {
      pid: child.pid,
      exited,
      write: (text) => {
        if (stopped || !child.stdin?.writable) return false;
        child.stdin.write(text);
        return true;
      },
      stop: () => {
        if (stopped) return;
        stopped = true;
        child.kill('SIGTERM');
      },
    };
  }
}
