import { existsSync, readFileSync } from 'node:fs';
import { release } from 'node:os';
import { gunzipSync } from 'node:zlib';
import { execa } from 'execa';

/** What this kernel and machine offer, as far as can be told without creating anything. */
export async function detectCapabilities(): Promise<string[]> {
  const found = ['netns', 'veth', 'bridge'];
  const modules = `/lib/modules/${release()}`;
  if (existsSync('/sys/module/vxlan') || existsSync(`${modules}/kernel/drivers/net/vxlan`)) found.push('vxlan');
  // VLANs are tagged by eBPF classifiers on a clsact qdisc (libs/linux's bpf-vlan), not by 8021q.
  if (canTagVlans(kernelConfig(), modules)) found.push('vlan');
  const nft = await execa('nft', ['--version'], { reject: false });
  if (nft.exitCode === 0) found.push('nftables');
  return found;
}

const VLAN_OPTIONS = ['CONFIG_BPF_SYSCALL', 'CONFIG_NET_CLS_BPF', 'CONFIG_NET_SCH_INGRESS'];

/**
 * Whether tc can run the VLAN programs: the kernel's configuration says so (each option built in
 * or a module); without a configuration to read, the classifier's module is there, built in or
 * not; with neither, assumed (a failing `tc` line then says why, on the network's status).
 */
export function canTagVlans(config: string | undefined, modules: string): boolean {
  if (config !== undefined) return VLAN_OPTIONS.every((option) => new RegExp(`^${option}=[ym]$`, 'm').test(config));
  const builtin = existsSync(`${modules}/modules.builtin`) ? readFileSync(`${modules}/modules.builtin`, 'utf8') : undefined;
  if (builtin === undefined && !existsSync(`${modules}/kernel`)) return true;
  const module = `${modules}/kernel/net/sched/cls_bpf.ko`;
  return existsSync('/sys/module/cls_bpf') || ['', '.xz', '.zst', '.gz'].some((ext) => existsSync(`${module}${ext}`)) || /\/cls_bpf\.ko$/m.test(builtin ?? '');
}

/** The running kernel's build configuration (`/proc/config.gz`, else `/boot/config-RELEASE`), if either is there. */
function kernelConfig(): string | undefined {
  try {
    if (existsSync('/proc/config.gz')) return gunzipSync(readFileSync('/proc/config.gz')).toString('utf8');
    const boot = `/boot/config-${release()}`;
    if (existsSync(boot)) return readFileSync(boot, 'utf8');
  } catch {
    // Unreadable: told as if absent.
  }
  return undefined;
}
