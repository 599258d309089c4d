/** Bytes VXLAN over IPv4 adds to every frame: a port's MTU is its host's underlay MTU minus this. */
export const VXLAN_OVERHEAD = 50;
export const DEFAULT_UNDERLAY_MTU = 1500;
/** The IANA VXLAN port (the kernel's default is 8472). */
export const VXLAN_PORT = 4789;
