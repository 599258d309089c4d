// The controller harness lives in libs/simhosts, shared with the benchmarks and the demo.
export { ControllerProcess, type ControllerOptions, errorCode, type GqlResult } from '@netloom/simhosts';
