import type { Response } from 'express';

/**
 * The pages load scripts and styles from this origin only; GraphiQL and cytoscape set inline
 * styles; both talk to /graphql over HTTP and websocket on the same origin.
 */
const PAGE_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "font-src 'self' data:",
  "connect-src 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
  "form-action 'none'",
].join('; ');

/**
 * Sends one of the fixed files with its type from the extension, an ETag and Last-Modified, and
 * `no-cache`: the browser revalidates each load (a 304 without body), so it never keeps a copy
 * from before an upgrade (the URLs carry no versions).
 */
export function sendWebFile(res: Response, path: string, page = false): void {
  const headers: Record<string, string> = { 'cache-control': 'no-cache', 'x-content-type-options': 'nosniff' };
  if (page) headers['content-security-policy'] = PAGE_POLICY;
  res.sendFile(path, { headers, cacheControl: false, dotfiles: 'deny' });
}
