import WebSocket from 'ws';

/** Ends one open connection, e.g. closes its websocket with a code and a reason. */
export type EndSession = (code: number, reason: string) => void;

interface Ending {
  /** The clock when the key was ended: connections with an older ticket end too. */
  at: number;
  code: number;
  reason: string;
}

/**
 * The open connections (API websockets, agent channels) by the credential they were opened
 * with, so that revoking the credential ends them at once. A connection authenticates first and
 * is tracked after, so it takes a {@link ticket} before it authenticates: a credential ended in
 * between ends the connection as soon as it is tracked.
 */
export class LiveSessions {
  private readonly open = new Map<string, Set<EndSession>>();
  private readonly ended = new Map<string, Ending>();
  private clock = 0;

  /** Take one before authenticating; pass it to {@link track}. */
  ticket(): number {
    return this.clock;
  }

  /** Tracks one connection of `key`; returns the function that forgets it (call it when it closes). */
  track(key: string, ticket: number, end: EndSession): () => void {
    const ending = this.ended.get(key);
    if (ending && ending.at >= ticket) {
      end(ending.code, ending.reason);
      return () => undefined;
    }
    let set = this.open.get(key);
    if (!set) this.open.set(key, (set = new Set()));
    set.add(end);
    const tracked = set;
    return () => {
      tracked.delete(end);
      if (!tracked.size && this.open.get(key) === tracked) this.open.delete(key);
    };
  }

  /** Ends every open connection of `key`, and any still authenticating; returns how many were open. */
  end(key: string, code: number, reason: string): number {
    this.ended.set(key, { at: this.clock++, code, reason });
    const set = this.open.get(key);
    this.open.delete(key);
    for (const end of set ?? []) end(code, reason);
    return set?.size ?? 0;
  }
}

/**
 * Closes a websocket with a code and a reason, and cuts it off when the peer has not finished
 * the closing handshake within `graceMs` (until then it could still send messages).
 */
export function closeSocket(socket: WebSocket, code: number, reason: string, graceMs = 1_000): void {
  if (socket.readyState === WebSocket.CLOSED) return;
  socket.close(code, reason);
  setTimeout(() => socket.terminate(), graceMs).unref();
}
