/** What a join token (found) and the credential sent with it amount to. */
export type JoinVerdict = 'first' | 'retry' | 'refused';

export interface JoinTokenState {
  /** When the token was first exchanged; null while unused. */
  usedAt: Date | null;
  /** Hash of the credential the first exchange bound to the host. */
  credentialHash: string | null;
}

/**
 * A join token is exchanged once ('first'). The same token may be posted again with the same
 * agent-made credential within `windowMs` of that exchange ('retry': the answer was lost, so
 * the agent asks again and gets the same one); anything else is refused.
 */
export function joinVerdict(token: JoinTokenState, credentialHash: string | null, now: number, windowMs: number): JoinVerdict {
  if (!token.usedAt) return 'first';
  if (credentialHash === null || token.credentialHash !== credentialHash) return 'refused';
  return now - token.usedAt.getTime() <= windowMs ? 'retry' : 'refused';
}
