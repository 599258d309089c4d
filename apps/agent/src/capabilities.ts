import { existsSync } from 'node:fs';
import { release } from 'node:os';
import { execa } from 'execa';

/** What this kernel and machine offer, as far as can be told without creating anything. */
export async function detectCapabilities(): Promise<string[]> {
  const found = ['netns', 'veth', 'bridge'];
  const modules = `/lib/modules/${release()}`;
  if (existsSync('/sys/module/vxlan') || existsSync(`${modules}/kernel/drivers/net/vxlan`)) found.push('vxlan');
  // 802.1Q: built in or loaded (/proc/net/vlan), or a module `ip link add … type vlan` would load.
  if (existsSync('/proc/net/vlan') || existsSync('/sys/module/8021q') || existsSync(`${modules}/kernel/net/8021q`)) found.push('vlan');
  const nft = await execa('nft', ['--version'], { reject: false });
  if (nft.exitCode === 0) found.push('nftables');
  return found;
}
