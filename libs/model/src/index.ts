export * from './errors';
export * from './ids';
export * from './kinds';
export * from './names';
export * from './desired';
export * from './overlay';
export * from './loopback';
export * from './limits';
