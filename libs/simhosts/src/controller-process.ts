import { ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Client, createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { dist } from './paths';
import { endChild } from './processes';

const MAIN = dist('apps/controller/src/main.js');
/**
 * How the controller is started (as `npm run start:controller` does): V8's young generation held
 * to 4 MB semi-spaces (see DESIGN.md: the default lets them grow to 16 MB; 1 MB cost big requests
 * twice the garbage collection).
 */
export const CONTROLLER_NODE_FLAGS = ['--max-semi-space-size=4'];

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- callers name the shape they read; tests read ad-hoc ones
export interface GqlResult<T = any> {
  status: number;
  data?: T;
  errors?: { message: string; extensions?: { code?: string; field?: string } }[];
}

/** Where a ControllerProcess keeps its data besides its data folder. */
export interface ControllerOptions {
  /**
   * A PostgreSQL URL (given in NETLOOM_DATABASE, so a password in it never shows in `ps`);
   * undefined: the embedded SQLite file in the data folder.
   */
  database?: string;
}

/** A real controller process on a temporary SQLite file or a given PostgreSQL database, with helpers to talk to it (tests, benchmarks, the demo). */
export class ControllerProcess {
  url = '';
  adminToken = '';
  /** The path of the Unix socket it also serves (agents dial `unix:<path>`), when launched with `--agent-socket`. */
  agentSocket = '';
  private child: ChildProcess | undefined;
  readonly output: string[] = [];

  constructor(
    readonly dataDir: string,
    readonly options: ControllerOptions = {},
  ) {}

  /** Starts a controller on a fresh temporary data folder (and `options.database`, when given). */
  static async start(options: ControllerOptions = {}): Promise<ControllerProcess> {
    const controller = new ControllerProcess(mkdtempSync(join(tmpdir(), 'netloom-e2e-')), options);
    await controller.launch();
    return controller;
  }

  /** (Re)starts the process on the same data folder and database. */
  async launch(extraArgs: string[] = []): Promise<void> {
    const env = { ...process.env };
    delete env.NETLOOM_DATABASE;
    if (this.options.database) env.NETLOOM_DATABASE = this.options.database;
    const child = spawn(process.execPath, [...CONTROLLER_NODE_FLAGS, MAIN, '--data-dir', this.dataDir, '--port', '0', ...extraArgs], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env,
    });
    this.child = child;
    child.stderr.on('data', (chunk: Buffer) => this.output.push(chunk.toString()));
    await new Promise<void>((ready, fail) => {
      const timer = setTimeout(() => fail(new Error(`controller did not start:\n${this.output.join('')}`)), 30_000);
      child.once('exit', (code) => {
        clearTimeout(timer);
        fail(new Error(`controller exited with ${code}:\n${this.output.join('')}`));
      });
      createInterface({ input: child.stdout }).on('line', (line) => {
        this.output.push(line);
        const [key, value] = line.split('=', 2);
        if (key === 'NETLOOM_ADMIN_TOKEN') this.adminToken = value;
        if (key === 'NETLOOM_AGENT_SOCKET') this.agentSocket = value;
        if (key === 'NETLOOM_URL') {
          this.url = value;
          // The socket and token lines, when present, are printed right after the URL line.
          setTimeout(() => {
            clearTimeout(timer);
            ready();
          }, 50);
        }
      });
    });
  }

  /** Whether the process of the last launch is alive. */
  get running(): boolean {
    const child = this.child;
    return child !== undefined && child.exitCode === null && child.signalCode === null;
  }

  /** The running process's id, if it runs. */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Stops the process (SIGTERM, then SIGKILL) and waits for it to exit. */
  stop(): Promise<void> {
    return this.kill('SIGTERM');
  }

  /** Sends `signal` (SIGKILL: a crash) and waits for the exit; SIGKILL follows after 5 s. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const child = this.child;
    this.child = undefined;
    await endChild(child, signal);
  }

  /** Stops the process and removes its data folder. */
  async destroy(): Promise<void> {
    await this.stop();
    rmSync(this.dataDir, { recursive: true, force: true });
  }

  /** One GraphQL request over HTTP; `token` null sends no Authorization header. */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- callers name the shape they read; tests read ad-hoc ones
  async gql<T = any>(query: string, variables: Record<string, unknown> = {}, token: string | null = this.adminToken): Promise<GqlResult<T>> {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (token !== null) headers.authorization = `Bearer ${token}`;
    const response = await fetch(this.url, { method: 'POST', headers, body: JSON.stringify({ query, variables }) });
    const body = (await response.json()) as GqlResult<T>;
    return { ...body, status: response.status };
  }

  /** Like gql, but fails the test on any GraphQL error and returns `data`. */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- callers name the shape they read; tests read ad-hoc ones
  async ok<T = any>(query: string, variables: Record<string, unknown> = {}, token?: string): Promise<T> {
    const result = await this.gql<T>(query, variables, token);
    if (result.errors?.length || !result.data) {
      throw new Error(`GraphQL errors: ${JSON.stringify(result.errors ?? result)}`);
    }
    return result.data;
  }

  /** A graphql-ws client; `token` null connects without one. */
  ws(token: string | null = this.adminToken): Client {
    return createClient({
      url: this.url.replace(/^http/, 'ws'),
      webSocketImpl: WebSocket,
      connectionParams: token === null ? {} : { authorization: `Bearer ${token}` },
      retryAttempts: 0,
      lazy: true,
    });
  }
}

/** The first error's code, for assertions. */
export const errorCode = (result: GqlResult): string | undefined => result.errors?.[0]?.extensions?.code;
