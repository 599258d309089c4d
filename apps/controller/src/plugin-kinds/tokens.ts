/** The loaded plugins (a PluginRegistry), for injection. */
export const PLUGIN_REGISTRY = Symbol('PluginRegistry');
