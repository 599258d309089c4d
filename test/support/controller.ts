// The controller harness lives in libs/simhosts, shared with the benchmarks and the demo.
export { ControllerProcess, errorCode, type GqlResult } from '@netloom/simhosts';
