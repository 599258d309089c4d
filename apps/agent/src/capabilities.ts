import { existsSync } from 'node:fs';
import { release } from 'node:os';
import { execa } from 'execa';

/** What this kernel and machine offer, as far as can be told without creating anything. */
export async function detectCapabilities(): Promise<string[]> {
  const found = ['netns', 'veth', 'bridge'];
  const modules = `/lib/modules/${release()}`;
  if (existsSync('/sys/module/vxlan') || existsSync(`${modules}/kernel/drivers/net/vxlan`)) found.push('vxlan');
  const nft = await execa('nft', ['--version'], { reject: false });
  if (nft.exitCode === 0) found.push('nftables');
  return found;
}
