// The host agent: it will dial the controller, receive this host's desired state and reconcile
// the kernel to it (issue 3). Until then it only says so.
process.stderr.write('netloom-agent: not implemented yet; see DESIGN.md "Agent reconcile loop"\n');
process.exitCode = 2;
