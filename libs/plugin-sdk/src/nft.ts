/** The hook of a base chain, as nft names it. */
export interface ChainHook {
  type: 'filter' | 'nat' | 'route';
  hook: 'prerouting' | 'input' | 'forward' | 'output' | 'postrouting';
  /** A number or a name (`dstnat`, `filter`, `srcnat`…). */
  priority: number | string;
  policy?: 'accept' | 'drop';
}

/** A base chain for a table body ({@link HostContext.nftTable}): `chain NAME { type … hook … priority …; policy …; rules }`. */
export function nftBaseChain(name: string, hook: ChainHook, rules: readonly string[]): string {
  return [`chain ${name} {`, `type ${hook.type} hook ${hook.hook} priority ${hook.priority}; policy ${hook.policy ?? 'accept'};`, ...rules, '}'].join('\n');
}
