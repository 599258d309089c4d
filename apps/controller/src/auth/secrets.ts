import { createHash, randomBytes } from 'node:crypto';

/** A new random secret with a recognisable prefix (`nlt_` API token, `nlj_` host join token). */
export const newSecret = (prefix: string): string => `${prefix}_${randomBytes(32).toString('base64url')}`;

/** Secrets are 256 random bits, so a plain SHA-256 is a safe, fast lookup key; only it is stored. */
export const hashSecret = (secret: string): string => createHash('sha256').update(secret).digest('hex');
