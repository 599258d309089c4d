/**
 * How long the SDK trusts what it last applied and read back (an nft table, an appliance) instead
 * of reading the kernel again on every pass: drift made by hand is repaired within this time.
 */
export const TRUST_MS = 30_000;
