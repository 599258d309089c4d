/** Injection token of the ControllerConfig. */
export const CONTROLLER_CONFIG = Symbol('CONTROLLER_CONFIG');
